package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/atomicfile"
)

func waitingPod(t *testing.T) *testPod {
	return newPod(t, []testApp{
		{name: "main", exec: []string{"/testapp", "wait-signal"}},
		{name: "side", exec: []string{"/testapp", "sleep"}},
	})
}

func TestStopGraceful(t *testing.T) {
	p := waitingPod(t)
	rp := p.startLocked(t)
	rp.waitOutput(t, "ready")
	if r := runCmd(t, p.entry("stop", p.uuid)); r.code != 0 {
		t.Fatalf("stop: code %d stderr %s", r.code, r.stderr)
	}
	r := rp.wait(t)
	if got := appLines(r.stdout, "main"); !slices.Equal(got, []string{"ready", "got terminated"}) {
		t.Errorf("main app printed %q, want it to see SIGTERM", got)
	}
	// The side app dies of the SIGTERM the stop sent: that is no failure.
	if r.code != 0 {
		t.Errorf("pod exit code %d, want 0", r.code)
	}
	if s := p.file(t, "stage1/rootfs/rkt/status/main"); s != "0" {
		t.Errorf("main status %q, want 0", s)
	}
	if s := p.file(t, "stage1/rootfs/rkt/status/side"); s != "143" {
		t.Errorf("side status %q, want 143", s)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "stage1/rootfs/rkt/enter.sock")); err == nil {
		t.Error("enter socket left behind")
	}
}

func TestStopForce(t *testing.T) {
	p := waitingPod(t)
	rp := p.startLocked(t)
	if r := runCmd(t, p.entry("stop", "--force", p.uuid)); r.code != 0 {
		t.Fatalf("stop --force: code %d stderr %s", r.code, r.stderr)
	}
	if r := rp.wait(t); r.code != 137 {
		t.Errorf("pod exit code %d, want 137", r.code)
	}
}

func TestEnter(t *testing.T) {
	p := waitingPod(t)
	rp := p.startLocked(t)
	pid := strings.TrimSpace(p.file(t, "pid"))

	r := runCmd(t, p.entry("enter", "--pid="+pid, "--appname=side", "--", "/testapp", "env"))
	if r.code != 0 || !strings.Contains(r.stdout, "AC_APP_NAME=side\n") {
		t.Errorf("enter env: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	// The side app may still be its stage2 helper for a moment.
	count := "for i in $(seq 200); do [ $(pidof testapp | wc -w) = 2 ] && break; sleep 0.05; done; pidof testapp | wc -w; exit 5"
	r = runCmd(t, p.entry("enter", "--pid="+pid, "--appname=main", "--", "/bin/sh", "-c", count))
	if r.code != 5 || strings.TrimSpace(r.stdout) != "2" {
		t.Errorf("enter sh: code %d stdout %q stderr %q; want 5 and both apps visible", r.code, r.stdout, r.stderr)
	}
	cmd := p.entry("enter", "--pid="+pid, "--appname=main", "--", "/bin/cat")
	cmd.Stdin = strings.NewReader("through stdin\n")
	if r = runCmd(t, cmd); r.code != 0 || r.stdout != "through stdin\n" {
		t.Errorf("enter cat: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, p.entry("enter", "--pid="+pid, "--appname=nope", "--", "/bin/true"))
	if r.code != exitStage1 || !strings.Contains(r.stderr, `no app "nope" in the pod`) {
		t.Errorf("enter unknown app: code %d stderr %q", r.code, r.stderr)
	}
	r = runCmd(t, p.entry("enter", "--pid="+pid, "--appname=main", "--", "/bin/nothere"))
	if r.code != exitStage1 || !strings.Contains(r.stderr, `executable "/bin/nothere" not found`) {
		t.Errorf("enter missing command: code %d stderr %q", r.code, r.stderr)
	}
	runCmd(t, p.entry("stop", p.uuid))
	rp.wait(t)
}

// gc detaches mounts stage1 may have left below the stage1 rootfs on the
// host, and leaves the app rootfs mounts (stage0's) alone.
func TestGCUnmountsLeftovers(t *testing.T) {
	p := newPod(t, []testApp{{name: "a"}})
	s1 := filepath.Join(p.dir, "stage1", "rootfs")
	root := filepath.Join(s1, "opt/stage2/a/rootfs")
	if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(root, unix.MNT_DETACH)
	proc := filepath.Join(root, "proc")
	if err := unix.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(proc, unix.MNT_DETACH)
	if r := runCmd(t, p.entry("gc", "--debug", p.uuid)); r.code != 0 {
		t.Fatalf("gc: code %d stderr %s", r.code, r.stderr)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), " "+proc+" ") {
		t.Error("gc left the proc mount")
	}
	if !strings.Contains(string(mi), " "+root+" ") {
		t.Error("gc unmounted the app rootfs, which belongs to stage0")
	}
}

// Signals sent to the run entrypoint (the pid stage0 became) reach the
// apps: SIGHUP and SIGQUIT are passed on, SIGTERM and SIGINT stop the pod
// gracefully.
func TestSignalsForwarded(t *testing.T) {
	for _, tc := range []struct {
		sig  unix.Signal
		want string
	}{{unix.SIGHUP, "got hangup"}, {unix.SIGQUIT, "got quit"}, {unix.SIGTERM, "got terminated"}, {unix.SIGINT, "got interrupt"}} {
		p := newPod(t, []testApp{{name: "main", exec: []string{"/testapp", "wait-signal"}}})
		rp := p.start(t)
		rp.waitOutput(t, "ready")
		if err := rp.cmd.Process.Signal(tc.sig); err != nil {
			t.Fatal(err)
		}
		r := rp.wait(t)
		if got := appLines(r.stdout, "main"); r.code != 0 || !slices.Equal(got, []string{"ready", tc.want}) {
			t.Errorf("%v: code %d, app printed %q; want 0 and %q", tc.sig, r.code, got, tc.want)
		}
	}
}

// Killing the run entrypoint (the pid systemd or a shell knows) takes the
// whole pod with it: nothing of the pod outlives it.
func TestPodDiesWithRunEntrypoint(t *testing.T) {
	p := waitingPod(t)
	rp := p.start(t)
	rp.waitOutput(t, "ready")
	pid, err := strconv.Atoi(strings.TrimSpace(p.file(t, "pid")))
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	rp.wait(t)
	deadline := time.Now().Add(time.Minute)
	for unix.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("pod PID 1 (host pid %d) still alive a minute after its run entrypoint was killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A SIGTERM sent as soon as the pid file exists (what stop does, without
// its start-up) stops the pod gracefully: PID 1 catches the stop signals
// before the pid file is written, instead of dying of one while it
// starts.
func TestStopRightAfterPidFile(t *testing.T) {
	p := newPod(t, []testApp{{name: "main", exec: []string{"/testapp", "wait-signal"}}})
	pidFile := filepath.Join(p.dir, "pid")
	for i := 0; i < 10; i++ {
		os.Remove(pidFile)
		cmd := p.entry("init", "--net=none", p.uuid)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var b []byte
		for {
			var err error
			if b, err = os.ReadFile(pidFile); err == nil {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Kill(pid, unix.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("run %d: pod stopped right after its pid file appeared exited with %d (%v), want 0", i, code, err)
			}
		case <-time.After(10 * time.Second):
			// Killing the run entrypoint kills PID 1 (Pdeathsig).
			cmd.Process.Kill()
			<-done
			t.Fatalf("run %d: the SIGTERM sent right after the pid file appeared was lost", i)
		}
	}
}

// lockPodDir takes the pod directory's lock as stage0 does for a running
// pod (RKT_LOCK_FD); closing the returned fd releases it.
func lockPodDir(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd
}

// startLocked starts the pod holding its directory's lock for the test's
// life, as stage0 does for a running pod (there, on RKT_LOCK_FD): stop
// signals a pod only while it is locked.
func (p *testPod) startLocked(t *testing.T, flags ...string) *runningPod {
	t.Helper()
	lock := lockPodDir(t, p.dir)
	t.Cleanup(func() { unix.Close(lock) })
	return p.start(t, flags...)
}

// A stop that comes while the pod is running (locked) but has not yet
// written its pid file waits for the file and signals the pid in it.
func TestStopWaitsForPidFile(t *testing.T) {
	p := newPod(t, []testApp{{name: "main"}})
	lock := lockPodDir(t, p.dir)
	defer unix.Close(lock)
	// A stand-in for the pod's PID 1 that the SIGTERM must reach: the
	// PID 1 of a namespace, which ignores signals it has no handler for.
	target := exec.Command("sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.05; done")
	target.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID}
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer target.Process.Kill()
	stop := p.entry("stop", p.uuid)
	var out bytes.Buffer
	stop.Stderr = &out
	if err := stop.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	// Written as the run entrypoint writes it: stop never sees half.
	if err := atomicfile.Write(filepath.Join(p.dir, "pid"), []byte(strconv.Itoa(target.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := stop.Wait(); err != nil {
		t.Fatalf("stop during start-up: %v: %s", err, out.String())
	}
	if err := target.Wait(); target.ProcessState.ExitCode() != 143 {
		t.Errorf("pod pid ended with %v, want its SIGTERM trap's 143", err)
	}
}

// A pod that exits (releases its lock) before it ever wrote its pid file
// is stopped: stop succeeds quietly rather than calling it not running.
func TestStopPodExitedBeforePidFile(t *testing.T) {
	p := newPod(t, []testApp{{name: "main"}})
	lock := lockPodDir(t, p.dir)
	stop := p.entry("stop", p.uuid)
	var out bytes.Buffer
	stop.Stdout, stop.Stderr = &out, &out
	if err := stop.Start(); err != nil {
		unix.Close(lock)
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	unix.Close(lock)
	if err := stop.Wait(); err != nil || out.Len() != 0 {
		t.Errorf("stop of a pod that exited while it waited: %v, output %q; want success, no output", err, out.String())
	}
}
