package main

import (
	"bytes"
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

// stopWithin stops the pod and returns its result, failing the test
// unless it ends within d.
func (p *testPod) stopWithin(t *testing.T, rp *runningPod, d time.Duration) result {
	t.Helper()
	start := time.Now()
	if r := runCmd(t, p.entry("stop", p.uuid)); r.code != 0 {
		t.Fatalf("stop: code %d stderr %s", r.code, r.stderr)
	}
	select {
	case r := <-rp.done:
		rp.done <- r
		if took := time.Since(start); took < d {
			return r
		}
	case <-time.After(d):
	}
	t.Fatalf("pod still running %v after stop:\nstdout:\n%s\nstderr:\n%s", d, rp.out.String(), rp.errOut.String())
	return result{}
}

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
// stop's SIGTERM, at once: the app never starts, the app started before
// it is stopped too, and the pod exits 0 as a graceful stop does.
func TestStopDuringPreStart(t *testing.T) {
	p := newPod(t, []testApp{
		{name: "first", exec: []string{"/testapp", "wait-signal"}},
		{name: "second", exec: sh("echo main ran"), image: func(a *types.App) {
			a.EventHandlers = []types.EventHandler{{Name: "pre-start", Exec: sh("echo pre; sleep 36001")}}
		}},
	})
	rp := p.startUnready(t)
	rp.waitOutput(t, "second[")
	rp.waitOutput(t, "first[")
	r := p.stopWithin(t, rp, stopTimeout/2)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("pod exited %d, stderr %q; want 0 and no error, as for a graceful stop", r.code, r.stderr)
	}
	if got := appLines(r.stdout, "second"); !slices.Equal(got, []string{"pre"}) {
		t.Errorf("second printed %q, want only its handler's line", got)
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
	if left := hostProcs("sleep", "36001"); len(left) > 0 {
		t.Errorf("handler left running: pids %v", left)
	}
}

// A pre-start handler that ignores the stop's SIGTERM gets SIGKILL after
// the grace period the apps get, and fails the pod as such an app would.
func TestStopKillsPreStartIgnoringTerm(t *testing.T) {
	p := newPod(t, []testApp{{name: "main", exec: sh("echo main ran"), image: func(a *types.App) {
		a.EventHandlers = []types.EventHandler{{Name: "pre-start", Exec: sh("trap '' TERM; echo pre; while :; do sleep 0.1; done")}}
	}}})
	rp := p.startUnready(t)
	rp.waitOutput(t, "pre")
	start := time.Now()
	r := p.stopWithin(t, rp, stopTimeout+5*time.Second)
	if took := time.Since(start); took < stopTimeout-time.Second {
		t.Errorf("pod ended %v after stop, want the handler to get the %v grace period", took, stopTimeout)
	}
	if r.code != 137 || slices.Contains(appLines(r.stdout, "main"), "main ran") {
		t.Errorf("pod exited %d, printed %q; want 137 and the app never started", r.code, appLines(r.stdout, "main"))
	}
}

// A stop while a post-stop handler hangs ends the handler: the pod exits
// with its app's code.
func TestStopDuringPostStop(t *testing.T) {
	p := newPod(t, []testApp{{name: "main", exec: sh("exit 0"), image: func(a *types.App) {
		a.EventHandlers = []types.EventHandler{{Name: "post-stop", Exec: sh("echo post; sleep 36002")}}
	}}})
	rp := p.startUnready(t)
	rp.waitOutput(t, "post")
	r := p.stopWithin(t, rp, stopTimeout/2)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("pod exited %d, stderr %q; want the app's 0 and no error", r.code, r.stderr)
	}
	if s := p.file(t, "stage1/rootfs/rkt/status/main"); s != "0" {
		t.Errorf("main status %q, want 0", s)
	}
	if left := hostProcs("sleep", "36002"); len(left) > 0 {
		t.Errorf("handler left running: pids %v", left)
	}
}

// A post-stop handler that starts because a stop ended its app runs (it
// is the clean-up the stop leads to) without the stop's SIGTERM, but is
// killed at the end of the grace period if it hangs.
func TestPostStopAfterStopBounded(t *testing.T) {
	p := newPod(t, []testApp{{name: "main", exec: []string{"/testapp", "wait-signal"}, image: func(a *types.App) {
		a.EventHandlers = []types.EventHandler{{Name: "post-stop", Exec: sh("trap 'echo post got term' TERM; echo post; sleep 36003")}}
	}}})
	lock := lockPodDir(t, p.dir)
	defer unix.Close(lock)
	rp := p.start(t)
	rp.waitOutput(t, "ready")
	start := time.Now()
	r := p.stopWithin(t, rp, stopTimeout+5*time.Second)
	if took := time.Since(start); took < stopTimeout-time.Second {
		t.Errorf("pod ended %v after stop, want the handler to run until the end of the %v grace period", took, stopTimeout)
	}
	if got := appLines(r.stdout, "main"); r.code != 0 || !slices.Equal(got, []string{"ready", "got terminated", "post"}) {
		t.Errorf("pod exited %d, main printed %q; want 0, and the handler to run without the stop's SIGTERM", r.code, got)
	}
	if left := hostProcs("sleep", "36003"); len(left) > 0 {
		t.Errorf("handler left running: pids %v", left)
	}
}
