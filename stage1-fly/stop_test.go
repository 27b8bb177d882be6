package main

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
)

// sleeper starts sleep, handing it extra (the pod directory, locked, for
// a process of the pod), and returns it with a channel closed at its exit.
func sleeper(t *testing.T, extra ...*os.File) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.ExtraFiles = extra
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return cmd, done
}

// The pid file names the app, but the app may be gone and its pid taken
// by another process: stop signals the pid only while it holds the pod
// lock.
func TestStopSignalsOnlyLockHolders(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	stranger, strangerDone := sleeper(t)
	lock, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, podDone := sleeper(t, lock)
	if err := os.WriteFile(stage1abi.PidFile, []byte(strconv.Itoa(stranger.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := stop(true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-podDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the process holding the pod lock was not signalled")
	}
	select {
	case <-strangerDone:
		t.Fatal("stop signalled a process that took over the app's pid")
	case <-time.After(100 * time.Millisecond):
	}
}
