// Package flywatch records the exit status of a stage1-fly app.
//
// The app replaces the stage1 process, so no stage1 code is left to wait
// for it and write rkt/status/<app>; only the app's parent (the shell or
// systemd that started saturn run) learns its exit code. To still record
// it, run leaves a small watcher process behind, detached from the app
// (double fork, own session), that learns the app's exit code from the
// kernel's process events connector (PROC_EVENT_EXIT carries the exit
// status of any process, not only of children) and writes rkt/status.
// run itself subscribes to the connector and opens a pidfd of its own
// process as its first step, and hands both to the watcher: the exit
// event is queued on the socket even if the app ends before the watcher
// is scheduled, so run never waits for the watcher to start, and the
// watcher's start (two exec'ed processes) overlaps run's planning and
// mounts instead of delaying the app. run names the app to the watcher
// through a pipe once the pod is accepted; a run that ends before that
// (a refused pod) leaves nothing to record.
// The pidfd tells the watcher when the whole process is gone; the kernel
// sends the exit event just after. An exit event of the thread group
// leader also comes when a multithreaded app execs from another thread,
// but an exec event follows that one. If the connector is unavailable,
// the pod runs without an exit status.
//
// The watcher's two processes are the stage1 binary re-executed with a
// hidden first argument, and this package's init runs them: it is
// initialized before the stage1 binary's heavier dependencies (the appc
// schema, net, regexp, math/big…), so neither process pays for
// initializing what it never uses (about 0.5 ms of CPU per start). Keep
// its imports few for that reason.
package flywatch

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
)

// Hidden first arguments that select the watcher modes of the binary.
// stage0 (flystatus.go) recognizes a watcher by watchArg in its cmdline.
const (
	spawnArg = "--fly-watch-spawn"
	watchArg = "--fly-watch"
)

// exitFailure is the stage1 ABI's exit code for a failure of stage1.
const exitFailure = 254

// init runs the watcher's processes: the stage1 binary re-executed with
// spawnArg or watchArg. Doing it here rather than from main skips the
// initialization of every package the stage1 binary imports that this
// one does not depend on, which is most of a start's cost.
func init() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case spawnArg:
		os.Exit(spawnMain(os.Args[2:]))
	case watchArg:
		os.Exit(watchMain(os.Args[2:]))
	}
}

// logf prints a message of the watcher's processes to stderr.
func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "stage1-fly: "+format+"\n", a...)
}

// Proc connector constants (linux/connector.h, linux/cn_proc.h).
const (
	cnIdxProc        = 1
	cnValProc        = 1
	procCnMcastListn = 1
	procEventExec    = 0x00000002
	procEventExit    = 0x80000000
	cnMsgLen         = 20
)

// The watcher's inherited descriptors: the stage1 rootfs's rkt directory,
// the subscribed proc connector socket, the pidfd of the app and the read
// end of the pipe run names the app through. 0, 1 and 2 are /dev/null
// (stderr is run's with --debug), so the watcher never holds the caller's
// terminal or pipes open after the app is gone.
const (
	watchDirFD   = 3
	watchSockFD  = 4
	watchPidfdFD = 5
	watchNameFD  = 6
)

// PidFile, below the rkt directory (stage1abi.FlyWatcher), holds the
// watcher's pid so the gc entrypoint can wait for it before stage0
// deletes the pod: the status file may be written just after the pod has
// become exited.
var PidFile = path.Base(stage1abi.FlyWatcher)

// Watcher is an exit watcher being started: the middle process of its
// double fork, and the pipe run names the app through.
type Watcher struct {
	spawnPid int
	name     *os.File // write end of the name pipe
	reaped   bool     // wait has run
}

// Start subscribes to the exit of this process (and so of the app that
// replaces it) and starts the watcher that records it below rktDir, the
// stage1 rootfs's rkt directory.
// The watcher needs no time to get ready, the subscription already is;
// run calls this first, so the watcher starts while run plans and mounts.
// It uses syscall.ForkExec rather than os/exec: no pidfd probe, no
// descriptor bookkeeping, nothing run does not need.
func Start(rktDir string, debug bool) (*Watcher, error) {
	if err := os.MkdirAll(rktDir, 0o755); err != nil {
		return nil, err
	}
	dir, err := unix.Open(rktDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", rktDir, err)
	}
	defer unix.Close(dir)
	sock, err := listenProcEvents()
	if err != nil {
		return nil, err
	}
	defer unix.Close(sock)
	// pidfd_open sets close-on-exec: the app must not inherit it.
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open: %w", err)
	}
	defer unix.Close(pidfd)
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("name pipe: %w", err)
	}
	defer unix.Close(pipe[0])
	// The watcher reads the name only once the app is gone, when nothing
	// can write any more; non-blocking all the same, so it never hangs.
	if err := unix.SetNonblock(pipe[0], true); err != nil {
		unix.Close(pipe[1])
		return nil, fmt.Errorf("name pipe: %w", err)
	}
	name := os.NewFile(uintptr(pipe[1]), "watcher-name")
	pid, err := spawnMiddle(dir, sock, pidfd, pipe[0], debug)
	if err != nil {
		name.Close()
		return nil, fmt.Errorf("start exit watcher: %w", err)
	}
	return &Watcher{spawnPid: pid, name: name}, nil
}

// spawnMiddle starts the middle process of the watcher's double fork
// with the watcher's descriptors.
func spawnMiddle(dir, sock, pidfd, name int, debug bool) (int, error) {
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(null)
	stderr := null
	if debug {
		stderr = unix.Stderr
	}
	args := []string{"/proc/self/exe", spawnArg, strconv.Itoa(os.Getpid())}
	return syscall.ForkExec(args[0], args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(stderr), uintptr(dir), uintptr(sock), uintptr(pidfd), uintptr(name)},
	})
}

// Named tells the watcher which app's status to write. From here on a
// run that fails is recorded as that app's exit with stage1's code.
func (w *Watcher) Named(app string) error {
	_, err := w.name.WriteString(app)
	if cerr := w.name.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("name the app to the exit watcher: %w", err)
	}
	return nil
}

// Release is for a run that fails: it reaps the middle process too, so
// the watcher's pid file is written before the pod can count as exited
// and gc looks for it. A watcher not named by then writes no status.
func (w *Watcher) Release() {
	w.name.Close()
	if !w.reaped {
		w.Wait()
	}
}

// Wait reaps the middle process before exec, so it never lingers as a
// zombie child of the app. It has usually long exited by then.
func (w *Watcher) Wait() error {
	w.reaped = true
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(w.spawnPid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("start exit watcher: %w", err)
		}
		break
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("start exit watcher: middle process ended with status %#x", uint32(ws))
	}
	return nil
}

// spawnMain is the middle process of the double fork: it starts the
// watcher in a session of its own and exits, so the watcher is no child
// of the app (an app waiting for all its children would wait for it).
func spawnMain(args []string) int {
	argv := append([]string{"/proc/self/exe", watchArg}, args...)
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2, watchDirFD, watchSockFD, watchPidfdFD, watchNameFD},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		logf("watcher: %v", err)
		return exitFailure
	}
	// Written before run goes on to exec the app, so long before gc runs.
	if err := writeAt(watchDirFD, PidFile, strconv.Itoa(pid)); err != nil {
		logf("watcher: %v", err)
	}
	return 0
}

// watchMain waits for process args[0] to exit and writes its exit status
// to status/<app> below the inherited rkt directory, where run named the
// app through the inherited pipe.
func watchMain(args []string) int {
	// A unit stop or a terminal hangup signals the app's whole cgroup or
	// session; the watcher outlives the app only by the moment it needs
	// to record the exit, so it lets such signals pass.
	signal.Ignore(unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	if len(args) != 1 {
		logf("watcher: expected PID")
		return exitFailure
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil {
		logf("watcher: invalid pid %q", args[0])
		return exitFailure
	}
	status, ok, err := waitExit(watchSockFD, watchPidfdFD, pid)
	if err != nil {
		logf("watcher: %v", err)
		return exitFailure
	}
	app, err := readAppName(watchNameFD)
	if err != nil {
		logf("watcher: %v", err)
		return exitFailure
	}
	if app == "" {
		// run ended before it accepted the pod: there is no app.
		return 0
	}
	if !ok {
		logf("watcher: missed the exit of pid %d", pid)
		return exitFailure
	}
	if err := writeStatus(watchDirFD, app, status); err != nil {
		logf("watcher: %v", err)
		return exitFailure
	}
	return 0
}

// readAppName reads what run wrote to the name pipe: the app's name, or
// nothing when run ended before naming it. It is called once run's
// process is gone, so everything written is there.
func readAppName(fd int) (string, error) {
	var b []byte
	buf := make([]byte, 512)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// A writer is left (none should be): take what came.
		case err != nil:
			return "", fmt.Errorf("read app name: %w", err)
		case n > 0:
			b = append(b, buf[:n]...)
			continue
		}
		break
	}
	name := string(b)
	if strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return "", fmt.Errorf("invalid app name %q", name)
	}
	return name, nil
}

// lateEventWait bounds how long the watcher waits, once the app is gone,
// for its exit event: the kernel signals the pidfd (exit_notify) just
// before it sends the connector event, so the event normally follows
// within microseconds.
const lateEventWait = 2 * time.Second

// waitExit reads process events from the subscribed socket sock until
// pidfd says pid is gone and its exit event has arrived, and returns
// pid's exit status; ok is false when no exit event of it came.
func waitExit(sock, pidfd, pid int) (code int, ok bool, err error) {
	r := &eventReader{sock: sock, buf: make([]byte, 64*1024), st: exitState{pid: pid}}
	fds := []unix.PollFd{{Fd: int32(sock), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
	for fds[1].Revents == 0 {
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return 0, false, fmt.Errorf("poll: %w", err)
		}
		r.drain()
	}
	deadline := time.Now().Add(lateEventWait)
	sockOnly := fds[:1]
	for !r.st.exited {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if _, err := unix.Poll(sockOnly, int(left.Milliseconds())+1); err != nil && err != unix.EINTR {
			return 0, false, fmt.Errorf("poll: %w", err)
		}
		r.drain()
	}
	return r.st.code, r.st.exited, nil
}

// eventReader reads queued events into st.
type eventReader struct {
	sock int
	buf  []byte
	st   exitState
}

// drain reads every queued event without blocking.
func (r *eventReader) drain() {
	for {
		n, _, err := unix.Recvfrom(r.sock, r.buf, unix.MSG_DONTWAIT)
		if err == unix.ENOBUFS {
			// Events were dropped on a busy host; keep reading.
			continue
		}
		if err != nil {
			return
		}
		r.st.apply(r.buf[:n])
	}
}

func listenProcEvents() (int, error) {
	// CLOEXEC: the app must not inherit the socket; the watcher gets it
	// explicitly.
	sock, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return -1, fmt.Errorf("proc connector socket: %w", err)
	}
	// Events of every process on the host arrive here; a large buffer
	// keeps a busy host from overflowing it before we read.
	unix.SetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	if err := unix.Bind(sock, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(sock)
		return -1, fmt.Errorf("proc connector bind: %w", err)
	}
	msg := make([]byte, unix.SizeofNlMsghdr+cnMsgLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.NLMSG_DONE)
	cn := msg[unix.SizeofNlMsghdr:]
	ne.PutUint32(cn[0:], cnIdxProc)
	ne.PutUint32(cn[4:], cnValProc)
	ne.PutUint16(cn[16:], 4)
	ne.PutUint32(cn[cnMsgLen:], procCnMcastListn)
	if err := unix.Sendto(sock, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(sock)
		return -1, fmt.Errorf("proc connector subscribe: %w", err)
	}
	return sock, nil
}

// exitState follows the events of one process, the thread group pid.
type exitState struct {
	pid    int
	exited bool // an exit event of the leader came and no exec after it
	code   int  // its exit status as a shell reports it (128+signal)
}

// apply reads a datagram of netlink messages. An exit event of the thread
// group leader records the exit status; an exec event of the process after
// it shows that "exit" was the old leader's, replaced when a multithreaded
// process execs from another thread, and clears it.
func (st *exitState) apply(b []byte) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return
	}
	ne := binary.NativeEndian
	for _, m := range msgs {
		d := m.Data
		// cn_msg, then proc_event: what, cpu, timestamp, then the event:
		// pid and tgid (exec and exit), exit_code (exit).
		if len(d) < cnMsgLen+16+8 {
			continue
		}
		ev := d[cnMsgLen:]
		evPid, evTgid := int(ne.Uint32(ev[16:])), int(ne.Uint32(ev[20:]))
		switch ne.Uint32(ev[0:]) {
		case procEventExec:
			if evTgid == st.pid {
				st.exited = false
			}
		case procEventExit:
			if evPid == st.pid && evTgid == st.pid && len(ev) >= 28 {
				st.exited, st.code = true, waitStatusCode(ne.Uint32(ev[24:]))
			}
		}
	}
}

// waitStatusCode turns a kernel exit status into an exit code.
func waitStatusCode(ws uint32) int {
	w := syscall.WaitStatus(ws)
	if w.Signaled() {
		return 128 + int(w.Signal())
	}
	return w.ExitStatus()
}

// writeStatus writes the app's status file below the rkt directory fd;
// the fd stays valid however the pod directory is renamed meanwhile.
func writeStatus(dirfd int, app string, code int) error {
	if err := writeAt(dirfd, "status/"+app, strconv.Itoa(code)); err != nil {
		return fmt.Errorf("write status of %s: %w", app, err)
	}
	return nil
}

// writeAt writes a file below dirfd through a temp file and a rename, so
// readers never see it partly written.
func writeAt(dirfd int, name, content string) error {
	dir, base := path.Split(name)
	tmp := dir + "." + base + ".tmp"
	fd, err := unix.Openat(dirfd, tmp, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dirfd, tmp, dirfd, name)
	}
	if err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
	}
	return err
}

// WaitGone waits, at most timeout, for the exit watcher recorded below
// rktDir to finish. A pid that is gone, or now names another process, has
// nothing to wait for.
func WaitGone(rktDir string, timeout time.Duration) error {
	b, err := os.ReadFile(path.Join(rktDir, PidFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("invalid watcher pid %q", b)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err == unix.ESRCH {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	// Checked after pidfd_open, so the pidfd surely names this process.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "\x00"+watchArg+"\x00") {
		return nil
	}
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("exit watcher %d still runs after %s", pid, timeout)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for exit watcher %d: %w", pid, err)
		}
		if n > 0 {
			return nil
		}
	}
}
