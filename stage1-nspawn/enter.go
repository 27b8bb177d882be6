package main

// Enter works through the supervisor rather than setns(2): a Go process
// cannot join a mount namespace once it runs several threads, and the
// stage1 must stay a static Go binary without a C constructor. The
// supervisor already lives in every namespace of the pod and is the only
// process that may reap, so the enter entrypoint hands it the command and
// the caller's stdin/stdout/stderr (SCM_RIGHTS) over rkt/enter.sock; the
// supervisor starts it through stage2 like an app and sends back the
// exit code.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage2/launch"
)

// enterRequest is the first message on the enter socket; it carries the
// caller's three fds.
type enterRequest struct {
	App  string   `json:"app"`
	Args []string `json:"args"`
}

// enterMessage is every later message: a signal from the caller to the
// command, or the command's exit code (or an error) from the supervisor.
type enterMessage struct {
	Signal int    `json:"signal,omitempty"`
	Code   int    `json:"code"`
	Error  string `json:"error,omitempty"`
}

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
	if len(fds) != 3 {
		return exitStage1, fmt.Errorf("want 3 file descriptors, got %d", len(fds))
	}
	var req enterRequest
	if err := json.Unmarshal(buf[:n], &req); err != nil {
		return exitStage1, fmt.Errorf("bad request: %w", err)
	}
	spec, err := s.enterSpec(req)
	if err != nil {
		return exitStage1, err
	}
	ch := make(chan int, 1)
	pid, err := s.spawn(spec, []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])}, true, func(code int) { ch <- code })
	if err != nil {
		return exitStage1, err
	}
	s.debugf("enter: %s in app %s as pid %d", strings.Join(req.Args, " "), req.App, pid)
	go forwardSignals(c, pid)
	return <-ch, nil
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
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		f, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, err
		}
		fds = append(fds, f...)
	}
	return fds, nil
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
	if len(req.Args) == 0 {
		return nil, errors.New("no command")
	}
	b, err := os.ReadFile(filepath.Join(rktDir, "env", app.name))
	if err != nil {
		return nil, fmt.Errorf("app %s has not started: %w", app.name, err)
	}
	env := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if err := launch.CheckExec(app.spec.Root, req.Args, env); err != nil {
		return nil, fmt.Errorf("app %s: %w", app.name, err)
	}
	// The command gets the app's capability bounding set and
	// no_new_privs, never the supervisor's full set: entering must not
	// give more power than the app has (rkt's enter did: CVE-2019-10144).
	return &launch.Spec{
		Root: app.spec.Root, Dir: "/", Args: req.Args, Env: env,
		Bounding: app.spec.Bounding, NoNewPrivs: app.spec.NoNewPrivs,
	}, nil
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
	fs := pflag.NewFlagSet("enter", pflag.ContinueOnError)
	pid := fs.Int("pid", 0, "pid of the pod's PID 1")
	appName := fs.String("appname", "", "app to enter")
	if err := fs.Parse(args); err != nil {
		return fail(err)
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		cmd = []string{"/bin/sh"}
	}
	if *pid <= 0 {
		// stage1 run wrote it, in the pod directory, out of the pod's
		// reach.
		b, err := os.ReadFile("pid")
		if err != nil {
			return fail(fmt.Errorf("enter: pod is not running: %w", err))
		}
		if *pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil || *pid <= 0 {
			return fail(fmt.Errorf("enter: bad pid file %q", b))
		}
	}
	if err := unix.Kill(*pid, 0); err != nil {
		return fail(fmt.Errorf("enter: pod process %d: %w", *pid, err))
	}
	name, err := enterAppName(*appName)
	if err != nil {
		return fail(err)
	}
	code, err := requestEnter(name, cmd, *pid)
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
// to run cmd in app with this process's stdio.
func requestEnter(app string, cmd []string, pid1 int) (int, error) {
	// The path is relative: the pod directory can be deep enough to
	// overflow sun_path.
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: "stage1/rootfs" + enterSocket, Net: "unixpacket"})
	if err != nil {
		return exitStage1, fmt.Errorf("pod is not running or not ready: %w", err)
	}
	defer c.Close()
	if err := checkEnterServer(c, pid1); err != nil {
		return exitStage1, err
	}
	b, err := json.Marshal(enterRequest{App: app, Args: cmd})
	if err != nil {
		return exitStage1, err
	}
	if _, _, err := c.WriteMsgUnix(b, unix.UnixRights(0, 1, 2), nil); err != nil {
		return exitStage1, err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			m, _ := json.Marshal(enterMessage{Signal: int(sig.(unix.Signal))})
			c.Write(m)
		}
	}()
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return exitStage1, fmt.Errorf("pod ended: %w", err)
	}
	var reply enterMessage
	if err := json.Unmarshal(buf[:n], &reply); err != nil {
		return exitStage1, fmt.Errorf("bad reply: %w", err)
	}
	if reply.Error != "" {
		return exitStage1, errors.New(reply.Error)
	}
	return reply.Code, nil
}
