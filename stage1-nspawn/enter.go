package main

// Enter works through the supervisor rather than setns(2): a Go process
// cannot join a mount namespace once it runs several threads, and the
// stage1 must stay a static Go binary without a C constructor. The
// supervisor already lives in every namespace of the pod and is the only
// process that may reap, so the enter entrypoint hands it the command
// over rkt/enter.sock; the supervisor starts it through stage2 like an
// app and sends back the exit code.
//
// The command never gets the caller's descriptors: a process it left
// behind would hold them after enter returned, reading what the operator
// types next, or typing into the operator's shell (TIOCSTI). On a
// terminal (stdin and stdout) the supervisor opens a pty in the pod's
// devpts, makes it the command's controlling terminal and sends the
// master back; otherwise the enter entrypoint sends the ends of three
// pipes (SCM_RIGHTS). Either way the enter entrypoint relays, and once
// the command has exited it stops reading the caller's stdin, copies
// what the command wrote and closes its ends: nothing the command left
// behind is connected to the caller any more.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/stage2/launch"
	"github.com/saturn-pods/saturn/terminal"
)

// enterRequest is the first message on the enter socket; unless TTY, it
// carries the command's three fds.
type enterRequest struct {
	App  string   `json:"app"`
	Args []string `json:"args"`
	// TTY asks for a pty of Size; its master comes back with the
	// started message.
	TTY  bool          `json:"tty,omitempty"`
	Size terminal.Size `json:"size,omitzero"`
	// Term is the caller's TERM, which the command gets as rkt's did.
	Term string `json:"term,omitempty"`
}

// enterMessage is every later message: a signal from the caller to the
// command, or, from the supervisor, that the command started (with the
// pty master when TTY) and then its exit code, or an error.
type enterMessage struct {
	Signal  int    `json:"signal,omitempty"`
	Started bool   `json:"started,omitempty"`
	Code    int    `json:"code"`
	Error   string `json:"error,omitempty"`
}

// defaultEnterShells are what enter runs when given no command, the first
// the app has, as rkt tried /bin/bash.
var defaultEnterShells = []string{"/bin/bash", "/bin/sh"}

// enterDrain bounds how long the enter entrypoint copies output once the
// command has exited, while something it left behind still holds the
// pty or a pipe: idle is how long the output may pause.
const (
	enterDrainIdle = 100 * time.Millisecond
	enterDrainMax  = time.Second
)

func (s *supervisor) listenEnter() error {
	os.Remove(enterSocket)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: enterSocket, Net: "unixpacket"})
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false)
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			go s.serveEnter(c)
		}
	}()
	return nil
}

func (s *supervisor) serveEnter(c *net.UnixConn) {
	defer c.Close()
	code, err := s.enter(c)
	reply := enterMessage{Code: code}
	if err != nil {
		reply.Error = err.Error()
	}
	b, _ := json.Marshal(reply)
	c.Write(b)
}

func (s *supervisor) enter(c *net.UnixConn) (int, error) {
	if err := checkEnterPeer(c); err != nil {
		return exitStage1, err
	}
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return exitStage1, err
	}
	fds, err := receivedFDs(oob[:oobn])
	if err != nil {
		return exitStage1, err
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	var req enterRequest
	if err := json.Unmarshal(buf[:n], &req); err != nil {
		return exitStage1, fmt.Errorf("bad request: %w", err)
	}
	want := 3 // stdin, stdout, stderr
	if req.TTY {
		want = 0
	}
	if len(fds) != want {
		return exitStage1, fmt.Errorf("want %d file descriptors, got %d", want, len(fds))
	}
	spec, err := s.enterSpec(req)
	if err != nil {
		return exitStage1, err
	}
	ch := make(chan int, 1)
	exited := func(code int) { ch <- code }
	var pid int
	if req.TTY {
		pid, err = s.enterOnPty(c, spec, req.Size, exited)
	} else {
		pid, err = s.spawn(spec, []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])}, true, exited)
		if err == nil {
			err = sendStarted(c)
		}
	}
	if err != nil {
		return exitStage1, err
	}
	// The command's ends are the command's alone.
	for _, fd := range fds {
		unix.Close(fd)
	}
	fds = nil
	s.debugf("enter: %s in app %s as pid %d", strings.Join(spec.Args, " "), req.App, pid)
	go forwardSignals(c, pid)
	return <-ch, nil
}

// enterOnPty starts spec on a new pty and sends the master to the
// caller.
func (s *supervisor) enterOnPty(c *net.UnixConn, spec *launch.Spec, size terminal.Size, exited func(int)) (int, error) {
	pid, master, err := s.spawnOnNewPty(spec, size, exited)
	if err != nil {
		return 0, err
	}
	defer master.Close()
	b, _ := json.Marshal(enterMessage{Started: true})
	if _, _, err := c.WriteMsgUnix(b, unix.UnixRights(int(master.Fd())), nil); err != nil {
		// The caller is gone: so is the command's terminal.
		unix.Kill(-pid, unix.SIGHUP)
	}
	return pid, nil
}

func sendStarted(c *net.UnixConn) error {
	b, _ := json.Marshal(enterMessage{Started: true})
	_, err := c.Write(b)
	return err
}

// forwardSignals relays signals the caller received to the entered
// command's process group until the connection closes.
func forwardSignals(c *net.UnixConn, pid int) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil || n == 0 {
			return
		}
		var m enterMessage
		if json.Unmarshal(buf[:n], &m) == nil && m.Signal > 0 {
			unix.Kill(-pid, unix.Signal(m.Signal))
		}
	}
}

func receivedFDs(oob []byte) ([]int, error) {
	return terminal.ParseRights(oob)
}

// enterSpec runs the command as root in the app's rootfs with the app's
// environment (rkt/env/<app>), as rkt enter does.
func (s *supervisor) enterSpec(req enterRequest) (*launch.Spec, error) {
	var app *appPlan
	for _, a := range s.plan.apps {
		if a.name == req.App {
			app = a
		}
	}
	if app == nil {
		return nil, fmt.Errorf("no app %q in the pod", req.App)
	}
	env, err := stage1abi.ReadEnv("/", app.name)
	if err != nil {
		return nil, fmt.Errorf("app %s has not started: %w", app.name, err)
	}
	if req.Term != "" {
		env = append(withoutEnv(env, "TERM"), "TERM="+req.Term)
	}
	args := req.Args
	if len(args) == 0 {
		for _, sh := range defaultEnterShells {
			if launch.CheckExec(app.rootInPod(), []string{sh}, env) == nil {
				args = []string{sh}
				break
			}
		}
		if args == nil {
			return nil, fmt.Errorf("app %s has none of %s to run", app.name, strings.Join(defaultEnterShells, ", "))
		}
	}
	if err := launch.CheckExec(app.rootInPod(), args, env); err != nil {
		return nil, fmt.Errorf("app %s: %w", app.name, err)
	}
	return app.commandSpec(args, env)
}

// checkEnterPeer lets only callers from outside the pod use the enter
// socket. An app that escapes its chroot inside the pod (root apps keep
// CAP_SYS_CHROOT) can reach /rkt/enter.sock; a process of the pod has a
// pid in the pod's PID namespace, while the kernel reports pid 0 for a
// peer whose PID namespace is outside it, such as the host's enter
// entrypoint.
func checkEnterPeer(c *net.UnixConn) error {
	cred, err := peerCred(c)
	if err != nil {
		return err
	}
	if cred.Pid != 0 {
		return fmt.Errorf("enter refused: caller pid %d is inside the pod", cred.Pid)
	}
	return nil
}

// checkEnterServer refuses a server other than the pod's PID 1, whose
// host pid is want. The socket lies in the stage1 rootfs, where an app
// root that escaped its chroot could put its own and would be handed the
// caller's terminal.
func checkEnterServer(c *net.UnixConn, want int) error {
	cred, err := peerCred(c)
	if err != nil {
		return err
	}
	if int(cred.Pid) != want {
		return fmt.Errorf("the enter socket is served by pid %d, not by the pod's PID 1 (%d)", cred.Pid, want)
	}
	return nil
}

// peerCred is the SO_PEERCRED of c: who connected, or who listened.
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("enter socket: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("enter socket: %w", err)
	}
	if credErr != nil {
		return nil, fmt.Errorf("enter socket: peer credentials: %w", credErr)
	}
	return cred, nil
}

// enterMain is the enter entrypoint: --pid=PID --appname=NAME -- cmd...,
// run with the pod directory as working directory.
func enterMain(args []string) int {
	f, err := stage1abi.ParseEnterFlags(args)
	if err != nil {
		return fail(fmt.Errorf("enter: %w", err))
	}
	// No command: the supervisor picks a shell (defaultEnterShells).
	if f.PID == 0 {
		if f.PID, err = podPID(); err != nil {
			return fail(fmt.Errorf("enter: %w", err))
		}
	}
	if err := unix.Kill(f.PID, 0); err != nil {
		return fail(fmt.Errorf("enter: pod process %d: %w", f.PID, err))
	}
	name, err := enterAppName(f.App)
	if err != nil {
		return fail(err)
	}
	code, err := requestEnter(name, f.Cmd, f.PID)
	if err != nil {
		return fail(fmt.Errorf("enter: %w", err))
	}
	return code
}

// enterAppName defaults to the pod's only app.
func enterAppName(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	p, err := loadPlanManifestOnly()
	if err != nil {
		return "", err
	}
	if len(p.Apps) != 1 {
		return "", fmt.Errorf("enter: the pod has %d apps, pick one with --appname", len(p.Apps))
	}
	return p.Apps[0].Name, nil
}

// requestEnter asks the supervisor, PID 1 of the pod with host pid pid1,
// to run cmd in app, relayed to this process's stdio.
func requestEnter(app string, cmd []string, pid1 int) (int, error) {
	// The path is relative: the pod directory can be deep enough to
	// overflow sun_path.
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: stage1abi.Stage1Rootfs + enterSocket, Net: "unixpacket"})
	if err != nil {
		return exitStage1, fmt.Errorf("pod is not running or not ready: %w", err)
	}
	defer c.Close()
	if err := checkEnterServer(c, pid1); err != nil {
		return exitStage1, err
	}
	req := enterRequest{App: app, Args: cmd, Term: cmp.Or(os.Getenv("TERM"), "dumb")}
	var r *enterRelay
	if terminal.IsTerminal(0) && terminal.IsTerminal(1) {
		req.TTY = true
		req.Size, _ = terminal.GetSize(0)
		r, err = requestOnPty(c, req)
	} else {
		r, err = requestOnPipes(c, req)
	}
	if err != nil {
		return exitStage1, err
	}
	defer r.close()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			m, _ := json.Marshal(enterMessage{Signal: int(sig.(unix.Signal))})
			c.Write(m)
		}
	}()
	reply, _, err := readEnterReply(c)
	r.end()
	if err != nil {
		return exitStage1, fmt.Errorf("pod ended: %w", err)
	}
	if reply.Error != "" {
		return exitStage1, errors.New(reply.Error)
	}
	return reply.Code, nil
}

// readEnterReply reads one message from the supervisor, with the fd it
// carries, if any (-1).
func readEnterReply(c *net.UnixConn) (enterMessage, int, error) {
	var m enterMessage
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return m, -1, err
	}
	if n == 0 {
		return m, -1, io.EOF
	}
	fds, err := receivedFDs(oob[:oobn])
	if err != nil {
		return m, -1, err
	}
	fd := -1
	for i, f := range fds {
		if i == 0 {
			fd = f
		} else {
			unix.Close(f)
		}
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return m, -1, fmt.Errorf("bad reply: %w", err)
	}
	return m, fd, nil
}

// enterRelay is the enter entrypoint's side of the command's streams.
type enterRelay struct {
	raw  *terminal.Raw
	in   *terminal.Input
	outs []*terminal.Output
	// files are the relay's ends: the pty master, or the pipes' ends.
	files []*os.File
}

// requestOnPty sends req and relays the pty the supervisor sends back,
// the caller's terminal in raw mode.
func requestOnPty(c *net.UnixConn, req enterRequest) (*enterRelay, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	m, fd, err := readEnterReply(c)
	if err != nil {
		return nil, err
	}
	if m.Error != "" || fd < 0 {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, errors.New(cmp.Or(m.Error, "no terminal from the pod"))
	}
	master := os.NewFile(uintptr(fd), "pty")
	r := &enterRelay{files: []*os.File{master}}
	if r.raw, err = terminal.MakeRaw(0); err != nil {
		r.close()
		return nil, err
	}
	r.outs = []*terminal.Output{terminal.StartOutput(os.Stdout, master)}
	if r.in, err = terminal.StartInput(master, 0, nil); err != nil {
		r.close()
		return nil, err
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	go func() {
		for range winch {
			terminal.CopySize(fd, 0)
		}
	}()
	return r, nil
}

// requestOnPipes sends req with the command's ends of three pipes and
// relays the caller's stdin, stdout and stderr to the other ends.
func requestOnPipes(c *net.UnixConn, req enterRequest) (*enterRelay, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var theirs, ours [3]*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			if f != nil {
				f.Close()
			}
		}
	}
	for i := range theirs {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(theirs[:])
			closeAll(ours[:])
			return nil, err
		}
		if i == 0 {
			theirs[i], ours[i] = r, w
		} else {
			theirs[i], ours[i] = w, r
		}
	}
	_, _, err = c.WriteMsgUnix(b, unix.UnixRights(int(theirs[0].Fd()), int(theirs[1].Fd()), int(theirs[2].Fd())), nil)
	closeAll(theirs[:])
	if err != nil {
		closeAll(ours[:])
		return nil, err
	}
	m, fd, err := readEnterReply(c)
	if fd >= 0 {
		unix.Close(fd)
	}
	if err == nil && m.Error != "" {
		err = errors.New(m.Error)
	}
	if err != nil {
		closeAll(ours[:])
		return nil, err
	}
	r := &enterRelay{files: ours[:]}
	r.outs = []*terminal.Output{terminal.StartOutput(os.Stdout, ours[1]), terminal.StartOutput(os.Stderr, ours[2])}
	if r.in, err = terminal.StartInput(ours[0], 0, func() { ours[0].Close() }); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// end is called once the command has exited: the caller's stdin is no
// longer read, the output is copied out.
func (r *enterRelay) end() {
	if r.in != nil {
		r.in.Stop()
	}
	for _, o := range r.outs {
		o.Drain(enterDrainIdle, enterDrainMax)
	}
}

// close ends the relay for good: the caller's terminal gets its settings
// back and the command's streams are closed.
func (r *enterRelay) close() {
	r.raw.Restore()
	for _, f := range r.files {
		f.Close()
	}
}
