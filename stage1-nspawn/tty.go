package main

// The pod's terminals. A pod never gets the caller's terminal: an app
// holding it, or sharing its session, could type into the operator's
// shell (TIOCSTI) or read what the operator types meanwhile and after
// the pod is gone. What the pod gets instead:
//
//   - /dev/console: a pty of its own, allocated by the run entrypoint,
//     whose output the run entrypoint copies to its stdout; nothing
//     writes to its input. Without a terminal, the host's /dev/null.
//   - --interactive on a terminal: a pty in the pod's own devpts
//     instance, opened by PID 1, which makes its slave the app's
//     controlling terminal (new session, TIOCSCTTY) and sends the master
//     to the run entrypoint on a socket made before clone (SCM_RIGHTS).
//     The run entrypoint puts the caller's terminal in raw mode (^C and
//     ^Z then reach the app through the pty's line discipline), relays
//     both ways, passes on the window size, and restores the terminal
//     once PID 1 has exited.
//   - --interactive without a terminal on stdin: the app gets the
//     caller's stdin as it is; a stdout or stderr that is a terminal is
//     replaced by a pipe PID 1 copies to its own.
//
// The run entrypoint pays for none of this when the caller has no
// terminal (under systemd, in scripts, in the benchmarks): three ioctls.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage2/launch"
	"github.com/saturn-pods/saturn/terminal"
)

// The variables naming the fds the run entrypoint hands PID 1 for the
// pod's terminals.
const (
	ttyFDEnv     = "SATURN_TTY_FD"     // PID 1's end of the socket it sends the app's pty master on
	consoleFDEnv = "SATURN_CONSOLE_FD" // the pty slave PID 1 binds as /dev/console
)

// relayGuard bounds how long the relays wait for output once PID 1 has
// exited: every process that could hold a slave is gone by then (PID 1
// exits last in its namespace), so output ends at once; this is only a
// hang guard.
const relayGuard = 2 * time.Second

// callerTTY is the run entrypoint's side of the pod's terminals; nil
// when the caller has no terminal.
type callerTTY struct {
	// /dev/console: conSlave is held until PID 1 exits, so that the
	// master does not read EIO while no app has the console open.
	conMaster, conSlave *os.File
	conOut              *terminal.Output

	// --interactive on a terminal: sock[0] receives the app's pty
	// master from PID 1's sock[1].
	sock     [2]int
	winch    chan os.Signal
	received chan struct{}
	master   *os.File
	raw      *terminal.Raw
	in       *terminal.Input
	out      *terminal.Output
}

// prepareTTY sets up the pod's terminals before PID 1 is cloned and
// returns PID 1's environment and files with the fds it gets added.
func prepareTTY(f *runFlags, env []string, files []uintptr) (*callerTTY, []string, []uintptr, error) {
	if !terminal.IsTerminal(0) && !terminal.IsTerminal(1) && !terminal.IsTerminal(2) {
		return nil, env, files, nil
	}
	c := &callerTTY{sock: [2]int{-1, -1}}
	var err error
	if c.conMaster, c.conSlave, err = terminal.Open("/dev/ptmx"); err != nil {
		return nil, nil, nil, fmt.Errorf("console: %w", err)
	}
	// Relayed to a log, what the console gets is passed on as it was
	// written, without a "\r" for every "\n"; a terminal (raw with
	// --interactive) needs them.
	if err := terminal.OutputOnly(int(c.conSlave.Fd()), terminal.IsTerminal(1)); err != nil {
		c.abort()
		return nil, nil, nil, fmt.Errorf("console: %w", err)
	}
	env = append(env, consoleFDEnv+"="+strconv.Itoa(len(files)))
	files = append(files, c.conSlave.Fd())
	if f.Interactive && terminal.IsTerminal(0) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			c.abort()
			return nil, nil, nil, fmt.Errorf("terminal socket: %w", err)
		}
		c.sock = [2]int{fds[0], fds[1]}
		c.winch = make(chan os.Signal, 1)
		signal.Notify(c.winch, unix.SIGWINCH)
		env = append(env, ttyFDEnv+"="+strconv.Itoa(len(files)))
		files = append(files, uintptr(fds[1]))
	}
	return c, env, files, nil
}

// start begins the relays once PID 1 exists.
func (c *callerTTY) start() {
	if c == nil {
		return
	}
	c.conOut = terminal.StartOutput(os.Stdout, c.conMaster)
	if c.sock[1] < 0 {
		return
	}
	unix.Close(c.sock[1])
	c.sock[1] = -1
	c.received = make(chan struct{})
	go c.receive()
}

// receive takes the app's pty master from PID 1 and relays it to the
// caller's terminal, until PID 1 closes its end by exiting.
func (c *callerTTY) receive() {
	defer close(c.received)
	buf := make([]byte, 512)
	for {
		n, fds, err := terminal.RecvFDs(c.sock[0], buf, 1)
		if err != nil || n == 0 && len(fds) == 0 {
			return
		}
		if len(fds) != 1 || c.master != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			continue
		}
		c.relay(os.NewFile(uintptr(fds[0]), "app pty"))
	}
}

func (c *callerTTY) relay(master *os.File) {
	c.master = master
	raw, err := terminal.MakeRaw(0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "stage1: warning: %v\n", err)
	}
	c.raw = raw
	// The size may have changed since PID 1 copied it.
	terminal.CopySize(int(master.Fd()), 0)
	c.out = terminal.StartOutput(os.Stdout, master)
	if c.in, err = terminal.StartInput(master, 0, nil); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: warning: terminal input: %v\n", err)
	}
	go func() {
		for range c.winch {
			terminal.CopySize(int(master.Fd()), 0)
		}
	}()
}

// finish ends the relays once PID 1 has exited (or was killed): the
// caller's terminal is no longer read, what the pod wrote is copied
// out, and the terminal gets its settings back.
func (c *callerTTY) finish() {
	if c == nil {
		return
	}
	if c.received != nil {
		<-c.received
	}
	if c.in != nil {
		c.in.Stop()
	}
	if c.out != nil {
		c.out.Drain(relayGuard, relayGuard)
	}
	if err := c.raw.Restore(); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: warning: %v\n", err)
	}
	c.conSlave.Close()
	c.conSlave = nil
	if c.conOut != nil {
		c.conOut.Drain(relayGuard, relayGuard)
	}
	c.abort()
}

// abort closes whatever is left open.
func (c *callerTTY) abort() {
	if c == nil {
		return
	}
	if c.winch != nil {
		signal.Stop(c.winch)
	}
	for _, f := range []*os.File{c.conMaster, c.conSlave, c.master} {
		if f != nil {
			f.Close()
		}
	}
	for _, fd := range c.sock {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	c.sock = [2]int{-1, -1}
}

// podTTY is PID 1's side: the socket to send the app's pty master on
// (-1 if none) and the console slave to bind (-1 if none).
type podTTY struct {
	sock    int
	console int
}

// openPodTTY takes the fds the run entrypoint passed for the pod's
// terminals, close-on-exec before anything can start.
func openPodTTY() (*podTTY, error) {
	t := &podTTY{sock: -1, console: -1}
	for _, v := range []struct {
		env string
		fd  *int
	}{{ttyFDEnv, &t.sock}, {consoleFDEnv, &t.console}} {
		s := os.Getenv(v.env)
		if s == "" {
			continue
		}
		fd, err := strconv.Atoi(s)
		if err != nil || fd < 3 {
			return nil, fmt.Errorf("bad %s %q", v.env, s)
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return nil, fmt.Errorf("%s: %w", v.env, err)
		}
		*v.fd = fd
	}
	os.Unsetenv(ttyFDEnv)
	return t, nil
}

// consoleSource is what the pod's /dev/console is bound from: the pty
// the run entrypoint allocated for it, or the host's /dev/null when the
// caller has no terminal (the host's own console, or the caller's
// terminal, is never handed to a pod). PID 1 reads it before the apps
// start, then closes its copy (podTTY.closeConsole).
//
// The slave is bound by its path in the host's devpts, which PID 1
// still sees, not from the fd: the fd's mount is the host mount
// namespace's, which a bind in the pod's refuses. The run entrypoint
// holds the pty open, so its number is not reused; the node found by
// the path must be the device the fd holds.
func consoleSource() string {
	v := os.Getenv(consoleFDEnv)
	if v == "" {
		return "/dev/null"
	}
	fd, err := strconv.Atoi(v)
	if err == nil {
		var p string
		if p, err = os.Readlink("/proc/self/fd/" + v); err == nil {
			if err = sameDevice(fd, p); err == nil {
				return p
			}
		}
	}
	fmt.Fprintf(os.Stderr, "stage1: warning: console: %v, using /dev/null\n", err)
	return "/dev/null"
}

// sameDevice checks that the path p names the character device fd holds.
func sameDevice(fd int, p string) error {
	var a, b unix.Stat_t
	if err := unix.Fstat(fd, &a); err != nil {
		return err
	}
	if err := unix.Stat(p, &b); err != nil {
		return err
	}
	if a.Mode&unix.S_IFMT != unix.S_IFCHR || b.Mode&unix.S_IFMT != unix.S_IFCHR || a.Rdev != b.Rdev {
		return fmt.Errorf("%s is not the console's pty", p)
	}
	return nil
}

// closeConsole drops PID 1's copy of the console slave once it is bound.
func (t *podTTY) closeConsole() {
	if t.console >= 0 {
		unix.Close(t.console)
		t.console = -1
	}
	os.Unsetenv(consoleFDEnv)
}

// ttyMessage goes with the pty master PID 1 sends the run entrypoint.
type ttyMessage struct {
	App string `json:"app"`
}

// spawnInteractive starts the app of an --interactive pod (see the top
// of this file).
func (s *supervisor) spawnInteractive(a *appPlan, spec *launch.Spec, exited func(code int)) (int, error) {
	if s.tty != nil && s.tty.sock >= 0 {
		return s.spawnOnPty(a, spec, exited)
	}
	files := []uintptr{0, 1, 2}
	for i, dst := range []io.Writer{nil, os.Stdout, os.Stderr} {
		if dst == nil || !terminal.IsTerminal(i) {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		// The copy ends when the app and its children have closed w.
		defer w.Close()
		files[i] = w.Fd()
		s.startCopy(r, dst)
	}
	return s.spawn(spec, files, true, exited)
}

// spawnOnPty starts the app on a new pty with the caller's window size
// (PID 1's stdin is the caller's terminal, which the run entrypoint
// relays to) and sends the master to the run entrypoint.
func (s *supervisor) spawnOnPty(a *appPlan, spec *launch.Spec, exited func(code int)) (int, error) {
	size, _ := terminal.GetSize(0)
	pid, master, err := s.spawnOnNewPty(spec, size, exited)
	if err != nil {
		return 0, err
	}
	defer master.Close()
	msg, _ := json.Marshal(ttyMessage{App: a.name})
	if err := terminal.SendFDs(s.tty.sock, msg, int(master.Fd())); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: warning: app %s: terminal: %v\n", a.name, err)
	}
	return pid, nil
}

// spawnOnNewPty starts spec on a new pty of the pod's devpts instance,
// of size, as its controlling terminal, and returns its pid and the
// master, for the caller to send on and close. The supervisor keeps no
// copy of the slave: once the process and its children are gone, the
// master reads EIO.
func (s *supervisor) spawnOnNewPty(spec *launch.Spec, size terminal.Size, exited func(code int)) (int, *os.File, error) {
	master, slave, err := terminal.Open("/dev/ptmx")
	if err != nil {
		return 0, nil, err
	}
	defer slave.Close()
	if err := terminal.SetSize(int(slave.Fd()), size); err != nil {
		master.Close()
		return 0, nil, err
	}
	onPty := *spec
	onPty.Ctty = true
	fd := slave.Fd()
	pid, err := s.spawn(&onPty, []uintptr{fd, fd, fd}, true, exited)
	if err != nil {
		master.Close()
		return 0, nil, err
	}
	return pid, master, nil
}
