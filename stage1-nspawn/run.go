package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/activation"
	"github.com/saturn-pods/saturn/cgroup"
	"github.com/saturn-pods/saturn/stage1abi"
)

// runMain is the run entrypoint. This process is the one stage0 exec'ed,
// so it keeps the pid systemd or the shell knows: it starts the pod's
// PID 1 in fresh namespaces, forwards signals to it and exits with its
// exit code.
func runMain(args []string) int {
	// Caught from here on, while the pod is checked; caught for sure
	// before PID 1 exists.
	sigs, caught := catchStopSignals()
	f, err := parseRunFlags(args)
	if err != nil {
		return fail(err)
	}
	podDir, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	plan, err := loadPlan(podDir, f)
	if err != nil {
		return fail(err)
	}
	if err := planSockets(plan); err != nil {
		return fail(err)
	}
	if err := planJournal(plan, f); err != nil {
		return fail(err)
	}
	if err := keepFDsFromChildren(); err != nil {
		return fail(err)
	}
	nw, err := planNetwork(podDir, f, plan)
	if err != nil {
		return fail(err)
	}
	cg, err := makePodCgroups(podDir, f, plan)
	if err != nil {
		return fail(err)
	}
	if err := nw.up(); err != nil {
		removePodCgroups(cg)
		return fail(err)
	}
	code := startPod(podDir, f, plan, nw.podArgs(args), sigs, caught, nw, cg)
	if err := nw.down(); err != nil {
		// The pod's records stay; gc tries again.
		fmt.Fprintf(os.Stderr, "stage1: network teardown: %v\n", err)
		if code == 0 {
			code = exitStage1
		}
	}
	removePodCgroups(cg)
	return code
}

// keepFDsFromChildren marks every inherited fd above stderr close-on-exec:
// this process holds the pod lock (RKT_LOCK_FD) for the pod's whole life,
// and neither it nor anything else stage0 left open may reach the apps.
func keepFDsFromChildren() error {
	err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err != unix.ENOSYS && err != unix.EINVAL {
		return err
	}
	// Kernels before 5.11: one fd at a time.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
	return nil
}

func cloneFlags(f *runFlags) uintptr {
	fl := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS)
	if f.IPC != "parent" {
		fl |= unix.CLONE_NEWIPC
	}
	if f.Net == "none" {
		fl |= unix.CLONE_NEWNET
	}
	return fl
}

// startPod starts PID 1 once caught says the stop signals, which arrive on
// sigs, are caught.
func startPod(podDir string, f *runFlags, plan *podPlan, args []string, sigs <-chan os.Signal, caught func(), nw *podNet, cg *cgroup.Pod) int {
	// Namespaces are created by clone(2) of a freshly exec'ed copy of this
	// binary, never by unshare on one of this process's threads. The
	// thread that forks is locked because Pdeathsig fires when the parent
	// *thread* exits (see forkPodInit). syscall.ForkExec rather than
	// os/exec: os/exec probes for pidfd support with a throw-away child
	// and waits through a pidfd, which costs every pod start a process
	// and a few threads' work.
	runtime.LockOSThread()
	// The pod's PID 1 shows up as "init" (the binary's name in the stage1
	// image) rather than "exe".
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	// The fds this process hands PID 1 are named in its environment. A
	// caller's variable of the same name would shadow ours (the first
	// of two equal keys wins) and point PID 1 at a wrong fd.
	env := withoutEnv(os.Environ(), "RKT_LOCK_FD", planFDEnv, caughtFDEnv, notifyFDEnv, ttyFDEnv, consoleFDEnv, listenFDsEnv, journalFDEnv)
	env = activation.Strip(env)
	relay, env, err := prepareNotify(env)
	if err != nil {
		return fail(err)
	}
	files := []uintptr{0, 1, 2}
	if relay != nil {
		files = append(files, relay.w.Fd())
	}
	tty, env, files, err := prepareTTY(f, env, files)
	if err != nil {
		relay.abort()
		return fail(err)
	}
	env, files = passSockets(plan, env, files)
	env, files = passJournal(plan, env, files)
	planFD, err := planMemfd(plan)
	if err != nil {
		tty.abort()
		relay.abort()
		return fail(err)
	}
	env = append(env, planFDEnv+"="+strconv.Itoa(len(files)))
	files = append(files, uintptr(planFD))
	var caughtPipe [2]int
	if err := unix.Pipe2(caughtPipe[:], unix.O_CLOEXEC); err != nil {
		unix.Close(planFD)
		tty.abort()
		relay.abort()
		return fail(fmt.Errorf("signal pipe: %w", err))
	}
	env = append(env, caughtFDEnv+"="+strconv.Itoa(len(files)))
	files = append(files, uintptr(caughtPipe[1]))
	caught()
	sys := &syscall.SysProcAttr{Cloneflags: cloneFlags(f), Pdeathsig: syscall.SIGKILL}
	pid, err := forkPodInit(cg, nw, sys, func() (int, error) {
		return syscall.ForkExec(self, append([]string{podInitName}, args...), &syscall.ProcAttr{Env: env, Files: files, Sys: sys})
	})
	unix.Close(planFD)
	unix.Close(caughtPipe[1])
	if err != nil {
		unix.Close(caughtPipe[0])
		tty.abort()
		relay.abort()
		return fail(fmt.Errorf("start pod: %w", err))
	}
	machine := registerMachine(f, podDir, pid)
	relay.start(machine.registered())
	tty.start()
	// The pod may be signalled, by stop through the pid file or by the
	// forwarder, only once PID 1 catches the stop signals: until then
	// PID 1 would die of one rather than stop its apps.
	waitCaught(caughtPipe[0])
	// Its start time first, so that whoever finds the pid finds it too:
	// stop tells PID 1 from a process that later took over the pid by it.
	if err := stage1abi.WritePid(podDir, pid, procStartTime(pid)); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		waitExited(pid)
		machine.unregister()
		tty.finish()
		reapPID(pid)
		return fail(err)
	}
	fwd := &forwarder{pid: pid}
	go fwd.run(sigs)
	// This (main) thread waits for PID 1 itself: its exit wakes it
	// straight from wait, with no goroutine to hand the news over.
	waitExited(pid)
	fwd.stop()
	machine.unregister()
	// Everything in the pod is gone with PID 1: the relays end.
	tty.finish()
	// PID 1 stays unreaped, its pid taken, for as long as this process
	// holds the pod lock but for the moment before it exits: stop relies
	// on it (see signalPod).
	relay.wait()
	return statusCode(reapPID(pid))
}

// forwarder passes the stop signals the run entrypoint gets on to the
// pod's PID 1 until it has exited. It holds mu while it signals, and stop
// takes mu before PID 1 is reaped, so a signal never reaches a process
// that reused the pid.
type forwarder struct {
	pid int

	mu     sync.Mutex
	exited bool
}

func (fw *forwarder) run(sigs <-chan os.Signal) {
	for s := range sigs {
		// With --interactive too: the app is on a pty of its own, where
		// Ctrl-C reaches it as a byte, never as a signal to this process.
		fw.mu.Lock()
		if !fw.exited {
			unix.Kill(fw.pid, s.(unix.Signal))
		}
		fw.mu.Unlock()
	}
}

func (fw *forwarder) stop() {
	fw.mu.Lock()
	fw.exited = true
	fw.mu.Unlock()
}

// waitExited returns once pid has exited, leaving it unreaped.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// reapPID reaps pid, this process's only child, and returns how it ended.
func reapPID(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws
		}
	}
}

// withoutEnv returns env without the variables named keys.
func withoutEnv(env []string, keys ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(keys, k) {
			out = append(out, kv)
		}
	}
	return out
}
