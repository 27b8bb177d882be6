package main

import (
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/stage2"
)

// superviseApp starts the app as this process's child and stays its
// parent until it exits, as stage1-nspawn's run entrypoint does for the
// pod's PID 1: run's pid (the pid file's, the one systemd or the shell
// knows) stays the pod's, signals sent to it are passed on to the app,
// and the pod's exit code is the app's, except that an app that dies of
// the SIGTERM (or SIGINT) of a requested stop has not failed: the pod
// exits 0, as a stopped stage1-nspawn pod does, and rkt/status/<app>
// still records 128+signal. This process writes that status itself,
// before it exits, so it is there whenever the pod counts as exited.
//
// The app is forked from this thread, the process's first, locked to
// main (see init): what belongs to a thread (the bounding set,
// no_new_privs, a session keyring; the mount namespace run unshared on
// it) is set on this thread for the app to inherit, and stays so, which
// does not hinder waiting and signalling. The app gets SIGKILL if this
// thread ends first (a stop --force kills this process).
func superviseApp(p *flyPod, spec *stage2.Spec, fw *forwarder) (int, error) {
	files, done, err := appStdio(p.app.Annotations)
	defer done()
	if err != nil {
		return 0, err
	}
	// A signal meant for the app must not kill run instead, once the app
	// runs (and could say it is ready).
	<-fw.caught
	notifyReady(p)
	pid, err := stage2.StartHere(spec, files, unix.SIGKILL)
	if err != nil {
		fw.stop()
		return 0, err
	}
	fw.start(pid)
	ws := waitApp(pid)
	requested := fw.stop()
	code := waitCode(ws)
	writeStatus(p, code)
	if ws.Signaled() && requested[ws.Signal()] {
		return 0, nil
	}
	return code, nil
}

// writeStatus records code as the app's exit status, rkt/status/<app>.
func writeStatus(p *flyPod, code int) {
	if err := stage1abi.WriteAppStatus(p.stage1Rootfs(), p.appName(), code); err != nil {
		logf("run: %v", err)
	}
}

// waitApp reaps pid and returns how it ended.
func waitApp(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return ws
		}
	}
}

// waitCode is the exit code for ws: 128+signal for a signal.
func waitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// forwarder passes the signals this process gets on to the app. It holds
// mu while it signals and stop takes mu once the app is reaped, so a
// signal never reaches a process that took the app's pid over. On a
// terminal, SIGINT, SIGQUIT, SIGHUP and SIGWINCH come from it to the whole
// foreground process group, the app included: they are caught (this
// process must not die of them) but not passed on a second time, and
// they are no stop of the pod. They are caught rather than ignored: the
// app would inherit an ignored signal.
type forwarder struct {
	sigs chan os.Signal
	pids chan int
	// caught is closed once the signals are caught (signal.Notify).
	caught chan struct{}

	mu        sync.Mutex
	gone      bool
	requested map[unix.Signal]bool // stop signals passed on
}

func newForwarder(terminal bool) *forwarder {
	fw := &forwarder{sigs: make(chan os.Signal, 8), pids: make(chan int, 1), caught: make(chan struct{}), requested: map[unix.Signal]bool{}}
	fromTerminal := map[os.Signal]bool{}
	if terminal {
		fromTerminal = map[os.Signal]bool{unix.SIGINT: true, unix.SIGQUIT: true, unix.SIGHUP: true, unix.SIGWINCH: true}
	}
	// signal.Notify takes a while (a round trip per signal with the
	// runtime's signal thread): done on the side, while run plans and
	// sets up the pod. A signal that comes before gets the default
	// action: run dies; the app is started only once they are caught
	// (superviseApp waits for it). Signals caught before the app runs
	// wait for it.
	go func() {
		signal.Notify(fw.sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
		close(fw.caught)
		pid := <-fw.pids
		for s := range fw.sigs {
			if fromTerminal[s] {
				continue
			}
			sig := s.(unix.Signal)
			fw.mu.Lock()
			if !fw.gone && pid > 0 {
				if sig == unix.SIGTERM || sig == unix.SIGINT {
					fw.requested[sig] = true
				}
				unix.Kill(pid, sig)
			}
			fw.mu.Unlock()
		}
	}()
	return fw
}

// start names the app's pid once it runs.
func (fw *forwarder) start(pid int) {
	fw.pids <- pid
}

// stop ends the forwarding, the app being reaped (or never started), and
// returns the stop signals that were passed on to it.
func (fw *forwarder) stop() map[unix.Signal]bool {
	select {
	case fw.pids <- 0:
	default:
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.gone = true
	return fw.requested
}
