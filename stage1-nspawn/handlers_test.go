package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"
)

// startUnready starts the pod like testPod.start, without waiting for it
// to be ready: a pod whose pre-start handler hangs never is. It holds
// the pod directory's lock, as stage0 does, for stop to see the pod
// running.
func (p *testPod) startUnready(t *testing.T) *runningPod {
	t.Helper()
	lock := lockPodDir(t, p.dir)
	t.Cleanup(func() { unix.Close(lock) })
	rp := &runningPod{cmd: p.entry("init", "--net=none", p.uuid), out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan result, 1)}
	rp.cmd.Stdout, rp.cmd.Stderr = rp.out, rp.errOut
	if err := rp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		rp.cmd.Wait()
		rp.done <- result{rp.out.String(), rp.errOut.String(), rp.cmd.ProcessState.ExitCode()}
	}()
	t.Cleanup(func() {
		rp.cmd.Process.Kill()
		<-rp.done
	})
	return rp
}

// stopAndWait stops the pod and returns its result. Its deadline, the
// apps' grace period and more, only guards against a hang: how long the
// pod took to end is for no assertion (the machine may be slow); what
// ended it is, by the outcome and the order of the apps' output.
func (p *testPod) stopAndWait(t *testing.T, rp *runningPod) result {
	t.Helper()
	if r := runCmd(t, p.entry("stop", p.uuid)); r.code != 0 {
		t.Fatalf("stop: code %d stderr %s", r.code, r.stderr)
	}
	return rp.waitStopped(t)
}

// waitStopped waits for a pod that was stopped to end, with stopAndWait's
// hang guard.
func (rp *runningPod) waitStopped(t *testing.T) result {
	t.Helper()
	select {
	case r := <-rp.done:
		rp.done <- r
		return r
	case <-time.After(3*stopTimeout + time.Minute):
	}
	t.Fatalf("pod still running long after stop:\nstdout:\n%s\nstderr:\n%s", rp.out.String(), rp.errOut.String())
	return result{}
}

// sleepMarker is a sleep duration no other test, nor another run of the
// tests beside this one, uses: hostProcs finds the processes sleeping
// it, and only those, as a handler this test left running.
func sleepMarker() string {
	sleepMarkers++
	return fmt.Sprintf("36000.%d%03d", os.Getpid(), sleepMarkers)
}

var sleepMarkers int

// hostProcs returns the host processes whose command line is args.
func hostProcs(args ...string) []string {
	want := []byte(strings.Join(args, "\x00") + "\x00")
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && bytes.Equal(b, want) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// A stop while a pre-start handler hangs ends the handler with the
// stop's SIGTERM (it says so), not the SIGKILL at the end of the grace
// period: the app never starts, the app started before it is stopped
// too, and the pod exits 0 as a graceful stop does.
func TestStopDuringPreStart(t *testing.T) {
	mark := sleepMarker()
	p := newPod(t, []testApp{
		{name: "first", exec: []string{"/testapp", "wait-signal"}},
		{name: "second", exec: sh("echo main ran"), image: func(a *types.App) {
			a.EventHandlers = []types.EventHandler{{Name: "pre-start", Exec: sh("trap 'echo pre got term; exit 0' TERM; echo pre; sleep " + mark + " & wait")}}
		}},
	})
	rp := p.startUnready(t)
	rp.waitOutput(t, "second[")
	rp.waitOutput(t, "first[")
	r := p.stopAndWait(t, rp)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("pod exited %d, stderr %q; want 0 and no error, as for a graceful stop", r.code, r.stderr)
	}
	if got := appLines(r.stdout, "second"); !slices.Equal(got, []string{"pre", "pre got term"}) {
		t.Errorf("second printed %q, want only its handler's lines, the second from the stop's SIGTERM", got)
	}
	if got := appLines(r.stdout, "first"); !slices.Equal(got, []string{"ready", "got terminated"}) {
		t.Errorf("first printed %q, want it to get the stop's SIGTERM", got)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "stage1/rootfs/rkt/status/second")); err == nil {
		t.Error("status written for an app that never started")
	}
	if _, err := os.Stat(filepath.Join(p.dir, "stage1/rootfs/rkt/supervisor-status")); err == nil {
		t.Error("supervisor-status written although an app never started")
	}
	if left := hostProcs("sleep", mark); len(left) > 0 {
		t.Errorf("handler left running: pids %v", left)
	}
}

// A pre-start handler that ignores the stop's SIGTERM is given the grace
// period the apps get (it goes on after the SIGTERM), then SIGKILL, and
// fails the pod as such an app would.
func TestStopKillsPreStartIgnoringTerm(t *testing.T) {
	p := newPod(t, []testApp{{name: "main", exec: sh("echo main ran"), image: func(a *types.App) {
		a.EventHandlers = []types.EventHandler{{Name: "pre-start", Exec: sh(
			"trap 'echo pre got term; got=1' TERM; echo pre; while :; do if [ -n \"$got\" ]; then echo pre goes on; got=; fi; sleep 0.1; done")}}
	}}})
	rp := p.startUnready(t)
	rp.waitOutput(t, "pre")
	r := p.stopAndWait(t, rp)
	if got := appLines(r.stdout, "main"); r.code != 137 || !slices.Equal(got, []string{"pre", "pre got term", "pre goes on"}) {
		t.Errorf("pod exited %d, printed %q; want 137 after the handler went on past the SIGTERM, and the app never started", r.code, got)
	}
}

// A stop while a post-stop handler hangs ends the handler with the
// stop's SIGTERM: the pod exits with its app's code.
func TestStopDuringPostStop(t *testing.T) {
	mark := sleepMarker()
	p := newPod(t, []testApp{{name: "main", exec: sh("exit 0"), image: func(a *types.App) {
		a.EventHandlers = []types.EventHandler{{Name: "post-stop", Exec: sh("trap 'echo post got term; exit 0' TERM; echo post; sleep " + mark + " & wait")}}
	}}})
	rp := p.startUnready(t)
	rp.waitOutput(t, "post")
	r := p.stopAndWait(t, rp)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("pod exited %d, stderr %q; want the app's 0 and no error", r.code, r.stderr)
	}
	if got := appLines(r.stdout, "main"); !slices.Equal(got, []string{"post", "post got term"}) {
		t.Errorf("main printed %q, want the handler ended by the stop's SIGTERM", got)
	}
	if s := p.file(t, "stage1/rootfs/rkt/status/main"); s != "0" {
		t.Errorf("main status %q, want 0", s)
	}
	if left := hostProcs("sleep", mark); len(left) > 0 {
		t.Errorf("handler left running: pids %v", left)
	}
}

// A post-stop handler that starts because a stop ended its app runs (it
// is the clean-up the stop leads to) without the stop's SIGTERM, and
// goes on after it, but is killed at the end of the grace period if it
// hangs.
func TestPostStopAfterStopBounded(t *testing.T) {
	mark := sleepMarker()
	p := newPod(t, []testApp{{name: "main", exec: []string{"/testapp", "wait-signal"}, image: func(a *types.App) {
		a.EventHandlers = []types.EventHandler{{Name: "post-stop", Exec: sh(
			"trap 'echo post got term' TERM; echo post; read x < /poke; echo post goes on; sleep " + mark)}}
	}}})
	// The handler waits for the test on a FIFO in the app's rootfs.
	poke := filepath.Join(p.dir, "stage1/rootfs/opt/stage2/main/rootfs/poke")
	if err := unix.Mkfifo(poke, 0o600); err != nil {
		t.Fatal(err)
	}
	lock := lockPodDir(t, p.dir)
	defer unix.Close(lock)
	rp := p.start(t)
	rp.waitOutput(t, "ready")
	if r := runCmd(t, p.entry("stop", p.uuid)); r.code != 0 {
		t.Fatalf("stop: code %d stderr %s", r.code, r.stderr)
	}
	rp.waitOutput(t, "post")
	// The handler goes on after the stop: it reads what the test writes.
	if err := os.WriteFile(poke, []byte("go on\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := rp.waitStopped(t)
	if got := appLines(r.stdout, "main"); r.code != 0 || !slices.Equal(got, []string{"ready", "got terminated", "post", "post goes on"}) {
		t.Errorf("pod exited %d, main printed %q; want 0, and the handler to run on without the stop's SIGTERM", r.code, got)
	}
	if left := hostProcs("sleep", mark); len(left) > 0 {
		t.Errorf("handler left running: pids %v", left)
	}
}
