package main

// Attachable stdio modes (--stdin/--stdout/--stderr=tty|stream) and the
// attach entrypoint. The supervisor owns what the app's streams are
// connected to and serves them on unix sockets in
// /rkt/iottymux/<app>/ (rkt's layout), listed in its endpoints file:
//
//   - tty: one pty of the pod's devpts per app, whose slave every stream
//     in tty mode gets (the controlling terminal when stdin is one of
//     them); served as "tty" on sock-tty: output, input, window size.
//   - stream: a pipe per stream, served as "stdin", "stdout", "stderr" on
//     sock-<stream>.
//
// Output nobody is attached to is kept (the last 64 KiB) for the next
// client. One client per stream at a time; a client may detach and
// another attach while the app runs on. Only callers from outside the
// pod may attach (as for enter), and the attach entrypoint talks only to
// a server that is the pod's PID 1.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/atomicfile"
	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/stage2/launch"
	"github.com/saturn-pods/saturn/terminal"
)

// iottymuxDir holds each attachable app's sockets and endpoints file, in
// the stage1 rootfs.
const iottymuxDir = "/" + stage1abi.IOTTYMuxDir

// Stdio modes, as the runtime app annotations name them.
const (
	modeNull   = stage1abi.StdioNull
	modeLog    = stage1abi.StdioLog
	modeTTY    = stage1abi.StdioTTY
	modeStream = stage1abi.StdioStream
)

// endpoints is the endpoints file, as rkt's iottymux wrote it.
type endpoints struct {
	Version int              `json:"version"`
	Targets []endpointTarget `json:"targets"`
}

type endpointTarget struct {
	Name    string `json:"name"`
	Domain  string `json:"domain"`
	Address string `json:"address"`
}

// attachable reports whether any of the app's streams is in tty or
// stream mode.
func (a *appPlan) attachable() bool {
	return slices.Contains(a.stdio, modeTTY) || slices.Contains(a.stdio, modeStream)
}

// spawnAttachable starts app a with its streams as its stdio modes say
// (see the top of this file).
func (s *supervisor) spawnAttachable(a *appPlan, spec *launch.Spec, exited func(code int)) (int, error) {
	dir := filepath.Join(iottymuxDir, a.name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	null, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	var (
		files   [3]uintptr
		theirs  []*os.File // the app's ends, closed once it has them
		streams []*terminal.Stream
		targets []endpointTarget
		master  *os.File
		logs    [3]*os.File // read ends of the streams in log mode
		// stdinStream is stdin's in stream mode, closed when the app exits.
		stdinStream *terminal.Stream
	)
	fail := func(err error) (int, error) {
		for _, f := range logs {
			if f != nil {
				f.Close()
			}
		}
		for _, st := range streams {
			st.Close()
		}
		for _, f := range theirs {
			f.Close()
		}
		if master != nil {
			master.Close()
		}
		return 0, err
	}
	defer func() {
		for _, f := range theirs {
			f.Close()
		}
	}()
	serve := func(name string, out, in *os.File, tty bool) error {
		sock := filepath.Join(dir, "sock-"+name)
		st, err := terminal.Serve(sock, out, in, tty, checkEnterPeer)
		if err != nil {
			return fmt.Errorf("app %s: serve %s: %w", a.name, name, err)
		}
		streams = append(streams, st)
		targets = append(targets, endpointTarget{Name: name, Domain: "unix", Address: sock})
		return nil
	}
	ctty := false
	if slices.Contains(a.stdio, modeTTY) {
		m, slave, err := terminal.Open("/dev/ptmx")
		if err != nil {
			return fail(err)
		}
		master = m
		theirs = append(theirs, slave)
		if err := serve("tty", master, master, true); err != nil {
			return fail(err)
		}
		ctty = a.stdio[0] == modeTTY
	}
	for i, mode := range a.stdio {
		if i == 0 && mode == modeLog {
			mode = modeNull // warned about (warnStdioModes)
		}
		switch mode {
		case modeTTY:
			files[i] = theirs[0].Fd()
		case modeStream:
			r, w, err := os.Pipe()
			if err != nil {
				return fail(err)
			}
			name := []string{"stdin", "stdout", "stderr"}[i]
			if i == 0 {
				theirs = append(theirs, r)
				files[i] = r.Fd()
				if err = serve(name, nil, w, false); err == nil {
					stdinStream = streams[len(streams)-1]
				}
			} else {
				theirs = append(theirs, w)
				files[i] = w.Fd()
				err = serve(name, r, nil, false)
			}
			if err != nil {
				return fail(err)
			}
		case modeLog:
			r, w, err := os.Pipe()
			if err != nil {
				return fail(err)
			}
			theirs = append(theirs, w)
			files[i] = w.Fd()
			logs[i] = r
		default:
			files[i] = null.Fd()
		}
	}
	b, _ := json.Marshal(endpoints{Version: 1, Targets: targets})
	if err := atomicfile.Write(filepath.Join(dir, "endpoints"), b, 0o644); err != nil {
		return fail(err)
	}
	run := *spec
	run.Ctty = ctty
	pid, err := s.spawn(&run, files[:], true, func(code int) {
		// Under the reaper's lock: nothing here may block. A stdin
		// stream has no output whose end would end it; the others end
		// once everything the app wrote is out.
		if stdinStream != nil {
			go stdinStream.Close()
		}
		exited(code)
	})
	if err != nil {
		return fail(err)
	}
	if master != nil {
		go func() {
			<-streams[0].Done()
			master.Close()
		}()
	}
	for i, r := range logs {
		if r != nil {
			s.logs.Add(1)
			s.pumping.Add(1)
			go s.pump(r, s.logLine(a, pid, i))
		}
	}
	return pid, nil
}

// attachMain is the attach entrypoint (coreos.com/rkt/stage1/attach):
// --action=list|auto-attach|custom-attach --app=NAME and, for
// custom-attach, which of --tty-in, --tty-out, --stdin, --stdout,
// --stderr; run with the pod directory as working directory.
func attachMain(args []string) int {
	f, err := stage1abi.ParseAttachFlags(args)
	if err != nil {
		return fail(fmt.Errorf("attach: %w", err))
	}
	name, err := enterAppName(f.App)
	if err != nil {
		return fail(err)
	}
	have, err := readEndpoints(name)
	if err != nil {
		return fail(err)
	}
	var want attachSet
	switch f.Action {
	case "list":
		for _, t := range have {
			fmt.Println(t)
		}
		return 0
	case "auto-attach":
		want = attachSet{ttyIn: has(have, "tty"), ttyOut: has(have, "tty"),
			stdin: has(have, "stdin"), stdout: has(have, "stdout"), stderr: has(have, "stderr")}
	case "custom-attach":
		want = attachSet{ttyIn: f.TTYIn, ttyOut: f.TTYOut, stdin: f.Stdin, stdout: f.Stdout, stderr: f.Stderr}
		for _, w := range []struct {
			on   bool
			name string
		}{{f.TTYIn || f.TTYOut, "tty"}, {f.Stdin, "stdin"}, {f.Stdout, "stdout"}, {f.Stderr, "stderr"}} {
			if w.on && !has(have, w.name) {
				return fail(fmt.Errorf("attach: app %s has no %s to attach to (it has: %s)", name, w.name, strings.Join(have, ", ")))
			}
		}
	default:
		return fail(fmt.Errorf("attach: unknown action %q", f.Action))
	}
	if want == (attachSet{}) {
		return fail(fmt.Errorf("attach: app %s has nothing to attach to (its streams are not in tty or stream mode)", name))
	}
	if err := attachStreams(name, want); err != nil {
		return fail(fmt.Errorf("attach: %w", err))
	}
	return 0
}

func has(names []string, name string) bool { return slices.Contains(names, name) }

type attachSet struct{ ttyIn, ttyOut, stdin, stdout, stderr bool }

// readEndpoints returns the names of the app's attachable streams, from
// the endpoints file the supervisor wrote. Only the names are used: the
// socket paths are this entrypoint's own, beneath the pod directory.
func readEndpoints(app string) ([]string, error) {
	f, err := os.OpenFile(filepath.Join(stage1abi.Stage1Rootfs+iottymuxDir, app, "endpoints"), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("app %s is not running or has no stream to attach to: %w", app, err)
	}
	defer f.Close()
	var ep endpoints
	if err := json.NewDecoder(io.LimitReader(f, 64*1024)).Decode(&ep); err != nil {
		return nil, fmt.Errorf("app %s: endpoints: %w", app, err)
	}
	var names []string
	for _, t := range ep.Targets {
		if slices.Contains([]string{"tty", "stdin", "stdout", "stderr"}, t.Name) {
			names = append(names, t.Name)
		}
	}
	return names, nil
}

// attachStreams connects to the app's streams in want and relays them to this
// process's stdio until the app's output ends, the detach keys are typed
// (a terminal), or a SIGINT or SIGTERM says to detach (streams).
func attachStreams(app string, want attachSet) error {
	// Caught from the start: a SIGINT or SIGTERM detaches, whenever it
	// comes.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer signal.Stop(sigs)
	pid1, err := podPID()
	if err != nil {
		return err
	}
	dial := func(name string) (*net.UnixConn, error) {
		c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: filepath.Join(stage1abi.Stage1Rootfs+iottymuxDir, app, "sock-"+name), Net: "unixpacket"})
		if err != nil {
			return nil, fmt.Errorf("app %s: %s: %w", app, name, err)
		}
		if err := checkEnterServer(c, pid1); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	var conns []*net.UnixConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	detach := make(chan struct{})
	var once sync.Once
	detached := func() { once.Do(func() { close(detach) }) }
	var outputs sync.WaitGroup
	var refusal error
	var mu sync.Mutex
	copyOut := func(dst io.Writer, c *net.UnixConn) {
		outputs.Add(1)
		go func() {
			defer outputs.Done()
			if err := terminal.CopyFrom(dst, c); err != nil {
				mu.Lock()
				refusal = err
				mu.Unlock()
				detached()
			}
		}()
	}
	if want.ttyIn || want.ttyOut {
		c, err := dial("tty")
		if err != nil {
			return err
		}
		conns = append(conns, c)
		out := io.Writer(os.Stdout)
		if !want.ttyOut {
			out = io.Discard
		}
		copyOut(out, c)
		if want.ttyIn {
			if terminal.IsTerminal(0) {
				raw, err := terminal.MakeRaw(0)
				if err != nil {
					return err
				}
				defer raw.Restore()
				if size, err := terminal.GetSize(0); err == nil {
					c.Write(terminal.SizeMessage(size))
				}
				winch := make(chan os.Signal, 1)
				signal.Notify(winch, unix.SIGWINCH)
				defer signal.Stop(winch)
				go func() {
					for range winch {
						if size, err := terminal.GetSize(0); err == nil {
							c.Write(terminal.SizeMessage(size))
						}
					}
				}()
			}
			in, err := terminal.StartInput(&terminal.DetachScanner{W: terminal.DataWriter{C: c}}, 0, nil)
			if err != nil {
				return err
			}
			defer in.Stop()
			go func() {
				<-in.Done()
				detached()
			}()
		}
	}
	for i, on := range []bool{want.stdin, want.stdout, want.stderr} {
		if !on {
			continue
		}
		name := []string{"stdin", "stdout", "stderr"}[i]
		c, err := dial(name)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		switch i {
		case 0:
			in, err := terminal.StartInput(terminal.DataWriter{C: c}, 0, nil)
			if err != nil {
				return err
			}
			defer in.Stop()
			// The server hangs up when the app ends.
			copyOut(io.Discard, c)
		case 1:
			copyOut(os.Stdout, c)
		case 2:
			copyOut(os.Stderr, c)
		}
	}
	ended := make(chan struct{})
	go func() {
		outputs.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-detach:
	case <-sigs:
	}
	mu.Lock()
	defer mu.Unlock()
	var r terminal.ErrRefused
	if errors.As(refusal, &r) {
		return fmt.Errorf("app %s: %s", app, string(r))
	}
	return nil
}

// podPID reads the pid file the run entrypoint wrote in the pod
// directory.
func podPID() (int, error) {
	// stage1 run wrote it, in the pod directory, out of the pod's reach.
	pid, err := stage1abi.ReadPid(".")
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("pod is not running: %w", err)
	}
	return pid, err
}
