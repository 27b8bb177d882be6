package pod

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
)

// Files stage1 writes in its rootfs can be replaced by an app that escaped
// its chroot; the host reads them as root. A symlink must not be followed
// (to a host file, whose content an error would show, or to /dev/zero),
// a FIFO must not hang the reader, an oversized file is refused, and an
// error shows only a short part of what it read.
func TestStage1FilesReadSafely(t *testing.T) {
	data := t.TempDir()
	p := makePod(t, data, dirRun)
	status := filepath.Join(p.Path(), "stage1/rootfs/rkt/status/app")
	super := filepath.Join(p.Path(), "stage1/rootfs/rkt/supervisor-status")
	pidFile := filepath.Join(p.Path(), "pid")

	// A symlink to a host file is not followed, even when the file holds
	// what would parse.
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(t.TempDir(), "ready")
	if err := os.WriteFile(ready, []byte("ready\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{status: secret, super: ready, pidFile: secret} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	if code, err := p.AppExitCode("app"); err == nil {
		t.Errorf("exit status read through a symlink: %d", code)
	}
	if p.Ready() {
		t.Error("supervisor-status read through a symlink")
	}
	if pid, err := p.Pid(); err == nil {
		t.Errorf("pid read through a symlink: %d", pid)
	}
	for _, f := range []string{status, super, pidFile} {
		os.Remove(f)
	}

	// A FIFO does not block the reader.
	for _, f := range []string{status, super, pidFile} {
		if err := unix.Mkfifo(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if code, err := p.AppExitCode("app"); err == nil {
			t.Errorf("exit status read from a FIFO: %d", code)
		}
		if p.Ready() {
			t.Error("supervisor-status read from a FIFO")
		}
		if pid, err := p.Pid(); err == nil {
			t.Errorf("pid read from a FIFO: %d", pid)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		// Let the stuck reads go (a writer's open wakes a reader's).
		for _, f := range []string{status, super, pidFile} {
			if fd, err := unix.Open(f, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
				unix.Close(fd)
			}
		}
		t.Fatal("reading a FIFO stage1 file hung")
	}
	for _, f := range []string{status, super, pidFile} {
		os.Remove(f)
	}

	// An oversized file is refused, whatever it starts with.
	big := "0" + strings.Repeat(" ", 1<<20)
	if err := os.WriteFile(status, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, err := p.AppExitCode("app"); err == nil {
		t.Errorf("exit status read from a %d-byte file: %d", len(big), code)
	}
	// One just within the cap is read as before.
	if err := os.WriteFile(status, []byte("0"+strings.Repeat(" ", stage1abi.MaxValueSize-1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, err := p.AppExitCode("app"); err != nil || code != 0 {
		t.Errorf("exit status of a %d-byte file: %d, %v", stage1abi.MaxValueSize, code, err)
	}

	// A bad value is shown clipped.
	long := "x" + strings.Repeat("SECRET", 100)
	if err := os.WriteFile(status, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := p.AppExitCode("app")
	if err == nil {
		t.Fatal("bad exit status accepted")
	}
	if strings.Count(err.Error(), "SECRET") > 8 {
		t.Errorf("error shows too much of the file: %v", err)
	}
	if err := os.WriteFile(pidFile, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = p.Pid()
	if err == nil {
		t.Fatal("bad pid accepted")
	}
	if strings.Count(err.Error(), "SECRET") > 8 {
		t.Errorf("error shows too much of the pid file: %v", err)
	}
}

// The pod can also replace a directory on the way, rkt/ itself, with a
// symlink into the host: nothing below the stage1 rootfs is followed.
func TestStage1FilesNotReadThroughLinkedDirs(t *testing.T) {
	data := t.TempDir()
	p := makePod(t, data, dirRun)
	host := t.TempDir()
	for f, v := range map[string]string{"status/app": "7\n", "supervisor-status": "ready\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(host, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(host, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rkt := filepath.Join(p.Path(), "stage1/rootfs/rkt")
	if err := os.RemoveAll(rkt); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host, rkt); err != nil {
		t.Fatal(err)
	}
	if code, err := p.AppExitCode("app"); err == nil {
		t.Errorf("exit status read through a linked rkt/: %d", code)
	}
	if p.Ready() {
		t.Error("supervisor-status read through a linked rkt/")
	}
	if !p.AppFinishTime("app").IsZero() {
		t.Error("finish time read through a linked rkt/")
	}
	// The real layout still reads.
	os.Remove(rkt)
	if err := os.MkdirAll(filepath.Join(rkt, "status"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rkt, "status/app"), []byte("3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, err := p.AppExitCode("app"); err != nil || code != 3 {
		t.Errorf("exit status %d, %v; want 3", code, err)
	}
	if p.AppFinishTime("app").IsZero() {
		t.Error("no finish time for a status file")
	}
}

// SignalRunning signals the pod's process only while the pod runs: the
// pid of an exited pod may name another process by now.
func TestSignalRunning(t *testing.T) {
	data := t.TempDir()
	p := makePod(t, data, dirRun)
	alive := func() (*exec.Cmd, <-chan error) {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, done
	}
	cmd, done := alive()
	if err := p.SignalRunning(cmd.Process.Pid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("an exited pod's stale pid was signalled: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	release := otherLock(t, p.Path()) // stage1 holds it while the pod runs
	defer release()
	if err := p.SignalRunning(cmd.Process.Pid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a running pod's process was not signalled")
	}
	if err := p.SignalRunning(cmd.Process.Pid, unix.SIGTERM); err != nil {
		t.Errorf("signal of a process already gone: %v", err)
	}
}
