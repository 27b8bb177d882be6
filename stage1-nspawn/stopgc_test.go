package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
)

// startSleeper starts a process standing in for a pod's PID 1, or for
// whatever process got its pid after the pod exited; exited is closed
// once it has ended.
func startSleeper(t *testing.T) (cmd *exec.Cmd, exited chan struct{}) {
	t.Helper()
	return startSleeperIn(t, 0)
}

// startSleeperIn starts sleep with extra clone flags: CLONE_NEWPID makes
// it the PID 1 of a namespace, as a pod's is.
func startSleeperIn(t *testing.T, cloneflags uintptr) (cmd *exec.Cmd, exited chan struct{}) {
	t.Helper()
	cmd = exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	return cmd, exited
}

func writePidFile(t *testing.T, dir string, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A pod that has exited leaves its pid file, whose pid may since name
// another process: stop of a pod whose directory is no longer locked
// signals nothing and succeeds quietly.
func TestStopUnlockedPodSignalsNothing(t *testing.T) {
	p := newPod(t, []testApp{{name: "main"}})
	other, exited := startSleeper(t)
	writePidFile(t, p.dir, other.Process.Pid)
	for _, args := range [][]string{{p.uuid}, {"--force", p.uuid}} {
		stop := p.entry("stop", args...)
		var out bytes.Buffer
		stop.Stdout, stop.Stderr = &out, &out
		if err := stop.Run(); err != nil || out.Len() != 0 {
			t.Errorf("stop %v of an exited pod: %v, output %q; want success, no output", args, err, out.String())
		}
	}
	select {
	case <-exited:
		t.Fatalf("stop of an exited pod signalled pid %d from its stale pid file: %v", other.Process.Pid, other.ProcessState)
	case <-time.After(200 * time.Millisecond):
	}
}

// signalPod itself: nothing for an unlocked pod or a pid that is gone,
// the signal through the pidfd for a locked one.
func TestSignalPod(t *testing.T) {
	dir := t.TempDir()
	other, exited := startSleeper(t)
	if err := signalPod(dir, other.Process.Pid, unix.SIGKILL); err != nil {
		t.Fatalf("signalPod of an unlocked pod: %v", err)
	}
	select {
	case <-exited:
		t.Fatal("signalPod signalled the pid of an unlocked pod")
	case <-time.After(100 * time.Millisecond):
	}

	lock := lockPodDir(t, dir)
	defer unix.Close(lock)
	// Locked (gc and rm lock exited pods too), but the pid is not a
	// namespace's PID 1: a process that took over the pid.
	if err := signalPod(dir, other.Process.Pid, unix.SIGKILL); err != nil {
		t.Fatalf("signalPod of a process that is no PID 1: %v", err)
	}
	select {
	case <-exited:
		t.Fatal("signalPod signalled a process that is no namespace's PID 1")
	case <-time.After(100 * time.Millisecond):
	}
	// Another namespace's PID 1 (another pod's, a container's) that took
	// over the pid: it did not start when the run entrypoint recorded.
	other1, otherExited := startSleeperIn(t, unix.CLONE_NEWPID)
	if err := os.WriteFile(filepath.Join(dir, stage1abi.PidStartTimeFile), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := signalPod(dir, other1.Process.Pid, unix.SIGKILL); err != nil {
		t.Fatalf("signalPod of another namespace's PID 1: %v", err)
	}
	select {
	case <-otherExited:
		t.Fatal("signalPod signalled a PID 1 that started after the pod's")
	case <-time.After(100 * time.Millisecond):
	}
	// A PID 1 ignores what it has no handler for; SIGKILL from outside
	// its namespace always reaches it.
	pod1, exited := startSleeperIn(t, unix.CLONE_NEWPID)
	if err := os.WriteFile(filepath.Join(dir, stage1abi.PidStartTimeFile), []byte(procStartTime(pod1.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := signalPod(dir, pod1.Process.Pid, unix.SIGKILL); err != nil {
		t.Fatalf("signalPod of a locked pod: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("signalPod did not signal the PID 1 of a locked pod")
	}
	if ws, ok := pod1.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Errorf("pod pid ended with %v, want SIGKILL", pod1.ProcessState)
	}
	// Its pid is gone now (reaped): no error.
	if err := signalPod(dir, pod1.Process.Pid, unix.SIGTERM); err != nil {
		t.Errorf("signalPod of a pid that is gone: %v", err)
	}
}
