package main

// These tests run the real stage1-fly binary on pod directories prepared
// by hand as stage0 would (docs/stage1-abi.md), with copied rootfs trees.
// They need root: the binary mounts and chroots.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

const testUUID = "6f1f3a4e-1e8a-4f3b-9a53-0c3b6c1a2b7d"

var (
	buildOnce sync.Once
	flyBin    string
	buildErr  error
)

// flyBinary builds stage1-fly once per test run.
func flyBinary(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("stage1-fly tests must run as root (they mount and chroot)")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fly-bin")
		if err != nil {
			buildErr = err
			return
		}
		flyBin = filepath.Join(dir, "run")
		cmd := exec.Command("go", "build", "-o", flyBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return flyBin
}

type buildError struct{ out string }

func (e *buildError) Error() string { return "go build: " + e.out }

// testPod is a pod directory with one busybox app called "app".
type testPod struct {
	t   *testing.T
	dir string
}

// newTestPod lays out a pod whose app runs exec; edit may change the pod
// manifest before it is written.
func newTestPod(t *testing.T, exec []string, edit func(*schema.PodManifest)) *testPod {
	t.Helper()
	bin := flyBinary(t)
	img := testimg.Dir(t, testimg.Options{Exec: exec}, testimg.BusyboxDir)
	dir := filepath.Join(t.TempDir(), testUUID)
	appDir := filepath.Join(dir, stage1Rootfs, "opt/stage2/app")
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(img, "rootfs"), filepath.Join(appDir, "rootfs")); err != nil {
		t.Fatal(err)
	}
	im := &schema.ImageManifest{}
	if err := readJSON(filepath.Join(img, "manifest"), im); err != nil {
		t.Fatal(err)
	}
	copyTo(t, filepath.Join(img, "manifest"), filepath.Join(appDir, "manifest"))
	copyTo(t, bin, filepath.Join(dir, stage1Rootfs, "run"))
	for _, e := range []string{"enter", "gc", "stop"} {
		if err := os.Symlink("run", filepath.Join(dir, stage1Rootfs, e)); err != nil {
			t.Fatal(err)
		}
	}
	pm := schema.BlankPodManifest()
	app := *im.App
	// The image id is not checked by stage1; any well-formed one will do.
	id, err := types.NewHash("sha512-" + strings.Repeat("ab", 64))
	if err != nil {
		t.Fatal(err)
	}
	pm.Apps = schema.AppList{{Name: types.ACName("app"), Image: schema.RuntimeImage{Name: &im.Name, ID: *id}, App: &app}}
	if edit != nil {
		edit(pm)
	}
	b, err := json.Marshal(pm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, podManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range mountsBelow(mustMounts(t), dir) {
			t.Errorf("mount left on the host: %s", m)
		}
	})
	return &testPod{t: t, dir: dir}
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustMounts(t *testing.T) map[string]bool {
	m, err := hostMountPoints()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// entry returns a command for an entrypoint, cwd the pod dir.
func (p *testPod) entry(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.dir, stage1Rootfs, name), args...)
	cmd.Dir = p.dir
	return cmd
}

// run runs the run entrypoint to completion.
func (p *testPod) run(args ...string) (stdout, stderr string, code, pid int) {
	p.t.Helper()
	cmd := p.entry("run", append(args, testUUID)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	cmd.Wait()
	return o.String(), e.String(), cmd.ProcessState.ExitCode(), cmd.Process.Pid
}

// status waits for the watcher's rkt/status file of the app.
func (p *testPod) status() string {
	p.t.Helper()
	path := filepath.Join(p.dir, stage1Rootfs, "rkt/status/app")
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		time.Sleep(25 * time.Millisecond)
	}
	p.t.Fatalf("no status file %s", path)
	return ""
}

func TestRunReplacesStage1(t *testing.T) {
	p := newTestPod(t, []string{"/bin/sh", "-c", `echo pid=$$; cat /proc/1/comm; echo hi >/tmp/x; cat /tmp/x; exit 7`}, nil)
	out, errOut, code, pid := p.run("--net=host", "--debug")
	if code != 7 {
		t.Fatalf("exit code %d, want 7\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	// The app has the pid run was started as, in the host pid namespace.
	if !strings.Contains(out, "pid="+strconv.Itoa(pid)+"\n") {
		t.Errorf("app did not run as pid %d:\n%s", pid, out)
	}
	host, err := os.ReadFile("/proc/1/comm")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, string(host)) {
		t.Errorf("app does not see the host's pid 1 (%q):\n%s", host, out)
	}
	if !strings.Contains(out, "hi\n") {
		t.Errorf("app could not use /tmp:\n%s", out)
	}
	if s := p.status(); s != "7" {
		t.Errorf("rkt/status/app = %q, want 7", s)
	}
	b, err := os.ReadFile(filepath.Join(p.dir, pidFile))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Errorf("pid file = %q (%v), want %d", b, err, pid)
	}
	env, err := os.ReadFile(filepath.Join(p.dir, stage1Rootfs, "rkt/env/app"))
	if err != nil || !strings.Contains(string(env), "AC_APP_NAME=app\n") {
		t.Errorf("rkt/env/app = %q (%v)", env, err)
	}
}
