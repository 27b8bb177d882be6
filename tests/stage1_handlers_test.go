package tests

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// stopGrace is stage1-nspawn's grace period between a stop's SIGTERM and
// its SIGKILL.
const stopGrace = 10 * time.Second

// handlerImage is busybox with one event handler, name, running script.
func handlerImage(t *testing.T, name, script string) string {
	return testimg.Busybox(t, testimg.Options{Modify: func(m *schema.ImageManifest) {
		m.App.EventHandlers = []types.EventHandler{{Name: name, Exec: types.Exec{"/bin/sh", "-c", script}}}
	}})
}

// stopHanging stops the pod with saturn stop and returns its exit code,
// failing the test unless the pod ends well within the grace period.
func stopHanging(t *testing.T, e *env, bg *s1Background) int {
	t.Helper()
	e.mustSaturn("stop", bg.uuid)
	select {
	case code := <-bg.done:
		bg.done <- code
		return code
	case <-time.After(stopGrace / 2):
		t.Fatalf("pod still running %v after stop:\n%s", stopGrace/2, bg.out)
		return 0
	}
}

// checkNothingLeft fails the test if a process whose command line is
// args still runs, or the pod is not exited. The env's cleanup checks
// that gc leaves no mount.
func checkNothingLeft(t *testing.T, e *env, uuid string, args ...string) {
	t.Helper()
	want := []byte(strings.Join(args, "\x00") + "\x00")
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		if b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline")); err == nil && bytes.Equal(b, want) {
			t.Errorf("%q still runs as pid %s after the pod ended", args, ent.Name())
		}
	}
	if st := s1Status(t, e, uuid); st["state"] != "exited" {
		t.Errorf("pod status %v, want state=exited", st)
	}
}

// saturn stop while a pre-start handler hangs ends the handler (SIGTERM)
// and the pod, which exits 0 as for any graceful stop; the app never
// starts.
func TestStage1StopDuringPreStart(t *testing.T) {
	e := newEnv(t)
	bb := handlerImage(t, "pre-start", "echo pre-start hangs; exec sleep 3607")
	bg := s1Start(t, e, "pre-start hangs", bb, "--exec=/bin/echo", "--", "app ran")
	if code := stopHanging(t, e, bg); code != 0 {
		t.Errorf("pod exited %d after a graceful stop, want 0:\n%s", code, bg.out)
	}
	if got := s1Lines(bg.out.String(), "busybox"); !slices.Equal(got, []string{"pre-start hangs"}) {
		t.Errorf("pod printed %q, want only the handler's line", got)
	}
	checkNothingLeft(t, e, bg.uuid, "sleep", "3607")
}

// saturn stop while a post-stop handler hangs ends the handler and the
// pod, which exits with its app's code.
func TestStage1StopDuringPostStop(t *testing.T) {
	e := newEnv(t)
	bb := handlerImage(t, "post-stop", "echo post-stop hangs; exec sleep 3608")
	bg := s1Start(t, e, "post-stop hangs", bb, "--exec=/bin/sh", "--", "-c", "exit 0")
	if code := stopHanging(t, e, bg); code != 0 {
		t.Errorf("pod exited %d, want its app's 0:\n%s", code, bg.out)
	}
	checkNothingLeft(t, e, bg.uuid, "sleep", "3608")
	if st := s1Status(t, e, bg.uuid); st["app-busybox"] != "0" {
		t.Errorf("status %v, want app-busybox=0", st)
	}
}
