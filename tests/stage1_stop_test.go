package tests

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// A stop that comes as soon as the pod is in pods/run, while stage1 is
// still starting and has not written its pid file, stops the pod: stop
// waits for the pid file instead of calling the pod not running.
func TestStopDuringStartup(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	for i := 0; i < 12; i++ {
		uuidFile := filepath.Join(t.TempDir(), "uuid")
		cmd := e.command("run", "--insecure-options=image", "--stage1-path="+stage1Image("stage1-nspawn"), "--net=none",
			"--uuid-file-save="+uuidFile, bb, "--exec=/bin/sleep", "--", "60")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			cmd.Wait()
			close(done)
		}()
		uuid := waitRunDir(t, e, uuidFile, done)
		r := e.saturn("stop", uuid)
		if r.Code != 0 {
			t.Errorf("run %d: stop right after the pod entered pods/run: %s", i, r)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			// The app sleeps for a minute: a stop that did not reach it
			// leaves the pod running.
			cmd.Process.Kill()
			<-done
			t.Fatalf("run %d: pod still running 5 s after stop:\n%s", i, out.String())
		}
	}
}

// waitRunDir waits until the pod whose UUID saturn run saves to
// uuidFile has a directory in pods/run, and returns its UUID.
func waitRunDir(t *testing.T, e *env, uuidFile string, done <-chan struct{}) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatal("saturn run ended before its pod was running")
		default:
		}
		if b, err := os.ReadFile(uuidFile); err == nil {
			uuid := strings.TrimSpace(string(b))
			if _, err := os.Stat(filepath.Join(e.Dir, "pods", "run", uuid)); uuid != "" && err == nil {
				return uuid
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	t.Fatal("pod not in pods/run within a minute")
	return ""
}
