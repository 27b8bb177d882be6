package main

// The app replaces the stage1 process, so no stage1 code is left to wait
// for it and write rkt/status/<app>; only the app's parent (the shell or
// systemd that started saturn run) learns its exit code. To still record
// it, run leaves a small watcher process behind, detached from the app
// (double fork, own session), that learns the app's exit code from the
// kernel's process events connector (PROC_EVENT_EXIT carries the exit
// status of any process, not only of children) and writes rkt/status.
// run itself subscribes to the connector and opens a pidfd of its own
// process before it execs the app, and hands both to the watcher: the
// exit event is queued on the socket even if the app ends before the
// watcher is scheduled, so run never waits for the watcher to start.
// The pidfd tells the watcher when the whole process is gone: an exit
// event of the thread group leader also fires when a multithreaded app
// execs from another thread, so the last event before the pidfd fires
// counts. If the connector is unavailable, the pod runs without an exit
// status.

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Hidden first arguments that select the watcher modes of the binary.
const (
	watchSpawnArg = "--fly-watch-spawn"
	watchArg      = "--fly-watch"
)

// Proc connector constants (linux/connector.h, linux/cn_proc.h).
const (
	cnIdxProc        = 1
	cnValProc        = 1
	procCnMcastListn = 1
	procEventExit    = 0x80000000
	cnMsgLen         = 20
)

// The watcher's inherited descriptors: the rkt/status directory, the
// subscribed proc connector socket and the pidfd of the app.
const (
	watchDirFD   = 3
	watchSockFD  = 4
	watchPidfdFD = 5
)

// watcher is the middle process of a watcher being started.
type watcher struct{ spawn *exec.Cmd }

// startWatcher subscribes to the exit of this process (and so of the app
// that replaces it) and starts the watcher that records it. The watcher
// needs no time to get ready, the subscription already is; wait only
// reaps the middle process, so the start overlaps the mount setup.
func startWatcher(p *flyPod, debug bool) (*watcher, error) {
	dir, err := os.Open(p.rktDir() + "/status")
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	sock, err := listenProcEvents()
	if err != nil {
		return nil, err
	}
	sockFile := os.NewFile(uintptr(sock), "proc-connector")
	defer sockFile.Close()
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open: %w", err)
	}
	unix.CloseOnExec(pidfd)
	pidfdFile := os.NewFile(uintptr(pidfd), "pidfd")
	defer pidfdFile.Close()
	cmd := exec.Command("/proc/self/exe", watchSpawnArg, strconv.Itoa(os.Getpid()), p.appName())
	cmd.ExtraFiles = []*os.File{dir, sockFile, pidfdFile}
	if debug {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start exit watcher: %w", err)
	}
	return &watcher{spawn: cmd}, nil
}

// wait reaps the middle process before exec, so it never lingers as a
// zombie child of the app.
func (w *watcher) wait() error {
	if err := w.spawn.Wait(); err != nil {
		return fmt.Errorf("start exit watcher: %w", err)
	}
	return nil
}

// watchSpawnMain is the middle process of the double fork: it starts the
// watcher in a session of its own and exits, so the watcher is no child
// of the app (an app waiting for all its children would wait for it).
func watchSpawnMain(args []string) int {
	cmd := exec.Command("/proc/self/exe", append([]string{watchArg}, args...)...)
	cmd.ExtraFiles = []*os.File{os.NewFile(watchDirFD, "status"), os.NewFile(watchSockFD, "proc-connector"), os.NewFile(watchPidfdFD, "pidfd")}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logf("watcher: %v", err)
		return exitFailure
	}
	return 0
}

// watchMain waits for process args[0] to exit and writes its exit status
// to the file args[1] of the inherited status directory.
func watchMain(args []string) int {
	// A unit stop or a terminal hangup signals the app's whole cgroup or
	// session; the watcher outlives the app only by the moment it needs
	// to record the exit, so it lets such signals pass.
	signal.Ignore(unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	if len(args) != 2 {
		logf("watcher: expected PID and app name")
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
	if !ok {
		logf("watcher: missed the exit of pid %d", pid)
		return exitFailure
	}
	if err := writeStatus(watchDirFD, args[1], status); err != nil {
		logf("watcher: %v", err)
		return exitFailure
	}
	return 0
}

// waitExit reads process events from the subscribed socket sock until
// pidfd says pid is gone, and returns pid's exit status; ok is false when
// no exit event of it arrived.
func waitExit(sock, pidfd, pid int) (code int, ok bool, err error) {
	buf := make([]byte, 64*1024)
	fds := []unix.PollFd{{Fd: int32(sock), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return 0, false, fmt.Errorf("poll: %w", err)
		}
		gone := fds[1].Revents != 0
		// Once the process is gone its exit event is already queued:
		// the kernel sends it before it signals the pidfd. Until then,
		// read what poll said is there, without blocking.
		for {
			n, _, err := unix.Recvfrom(sock, buf, unix.MSG_DONTWAIT)
			if err == unix.ENOBUFS {
				// Events were dropped on a busy host; keep reading.
				continue
			}
			if err != nil {
				break
			}
			if c, found := exitEvent(buf[:n], pid); found {
				code, ok = c, true
			}
		}
		if gone {
			return code, ok, nil
		}
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

// exitEvent finds, in a datagram of netlink messages, the exit event of
// the thread group leader pid and returns its exit status as a shell
// reports it (128+signal for a signal).
func exitEvent(b []byte, pid int) (int, bool) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return 0, false
	}
	code, found := 0, false
	ne := binary.NativeEndian
	for _, m := range msgs {
		d := m.Data
		// cn_msg, then proc_event: what, cpu, timestamp, then the exit
		// event's pid, tgid, exit_code.
		if len(d) < cnMsgLen+16+12 {
			continue
		}
		ev := d[cnMsgLen:]
		if ne.Uint32(ev[0:]) != procEventExit {
			continue
		}
		evPid, evTgid := int(ne.Uint32(ev[16:])), int(ne.Uint32(ev[20:]))
		if evPid != pid || evTgid != pid {
			continue
		}
		code, found = waitStatusCode(ne.Uint32(ev[24:])), true
	}
	return code, found
}

// waitStatusCode turns a kernel exit status into an exit code.
func waitStatusCode(ws uint32) int {
	w := syscall.WaitStatus(ws)
	if w.Signaled() {
		return 128 + int(w.Signal())
	}
	return w.ExitStatus()
}

// writeStatus writes the status file atomically below the directory fd;
// the fd stays valid however the pod directory is renamed meanwhile.
func writeStatus(dirfd int, app string, code int) error {
	tmp := "." + app + ".tmp"
	fd, err := unix.Openat(dirfd, tmp, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.WriteString(strconv.Itoa(code))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dirfd, tmp, dirfd, app)
	}
	if err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return fmt.Errorf("write status of %s: %w", app, err)
	}
	return nil
}
