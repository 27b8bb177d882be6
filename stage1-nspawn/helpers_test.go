package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// Binaries the tests build once: the stage1 itself and the test app.
var (
	stage1Bin  string
	testAppBin string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "stage1-nspawn tests create namespaces and mounts: run them as root")
		return 1
	}
	dir, err := os.MkdirTemp("", "stage1-nspawn-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	stage1Bin = filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-o", stage1Bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build stage1: %v\n%s", err, out)
		return 1
	}
	testAppBin = filepath.Join(dir, "testapp")
	if err := testimg.BuildTestApp(testAppBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// testApp is one app of a hand-made pod: a busybox image with /testapp.
type testApp struct {
	name string
	exec []string
	// image changes the image manifest's app; pod the runtime app.
	image func(*types.App)
	pod   func(*schema.RuntimeApp)
	files map[string]string
}

// testPod is a pod directory laid out as stage0 leaves it before
// exec'ing stage1 (docs/stage1-abi.md), with copies instead of overlays.
type testPod struct {
	dir  string
	uuid string
	pm   *schema.PodManifest
}

func newUUID(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newPod(t *testing.T, apps []testApp, volumes ...types.Volume) *testPod {
	t.Helper()
	p := &testPod{dir: filepath.Join(t.TempDir(), "pod"), uuid: newUUID(t)}
	s1 := filepath.Join(p.dir, "stage1", "rootfs")
	if err := os.MkdirAll(s1, 0o755); err != nil {
		t.Fatal(err)
	}
	copyBin(t, stage1Bin, filepath.Join(s1, "init"))
	for _, e := range []string{"enter", "stop", "gc"} {
		if err := os.Symlink("init", filepath.Join(s1, e)); err != nil {
			t.Fatal(err)
		}
	}
	// As stage0's gc would: what a killed run entrypoint left (its pod's
	// cgroups) goes. Cleanups run last first: this one after the pod's.
	t.Cleanup(func() {
		if r := runCmd(t, p.entry("gc", p.uuid)); r.code != 0 {
			t.Errorf("gc: code %d stderr %s", r.code, r.stderr)
		}
	})
	if err := os.WriteFile(filepath.Join(p.dir, "stage1", "manifest"), []byte(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/stage1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	pm := schema.BlankPodManifest()
	pm.Volumes = volumes
	for _, a := range apps {
		dir := filepath.Join(s1, "opt", "stage2", a.name)
		exe := a.exec
		if exe == nil {
			exe = []string{"/bin/true"}
		}
		o := testimg.Options{Exec: exe, Files: a.files, Modify: func(m *schema.ImageManifest) {
			if a.image != nil {
				a.image(m.App)
			}
		}}
		if err := testimg.BusyboxDir(dir, o); err != nil {
			t.Fatal(err)
		}
		copyBin(t, testAppBin, filepath.Join(dir, "rootfs", "testapp"))
		im := &schema.ImageManifest{}
		if b, err := os.ReadFile(filepath.Join(dir, "manifest")); err != nil {
			t.Fatal(err)
		} else if err := json.Unmarshal(b, im); err != nil {
			t.Fatal(err)
		}
		ra := schema.RuntimeApp{
			Name:  types.ACName(a.name),
			Image: schema.RuntimeImage{Name: &im.Name, ID: *types.NewHashSHA512([]byte(a.name))},
			App:   im.App,
		}
		if a.pod != nil {
			a.pod(&ra)
		}
		pm.Apps = append(pm.Apps, ra)
	}
	p.pm = pm
	p.writeManifest(t)
	return p
}

func (p *testPod) writeManifest(t *testing.T) {
	t.Helper()
	b, err := json.Marshal(p.pm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "pod"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyBin(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// entry returns a command running stage1 entrypoint e in the pod
// directory, as stage0 does.
func (p *testPod) entry(e string, args ...string) *exec.Cmd {
	cmd := exec.Command("stage1/rootfs/"+e, args...)
	cmd.Dir = p.dir
	return cmd
}

type result struct {
	stdout, stderr string
	code           int
}

func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{out.String(), errb.String(), code}
}

// run runs the pod to its end with --net=none unless flags say else.
func (p *testPod) run(t *testing.T, flags ...string) result {
	t.Helper()
	args := append([]string{"--net=none"}, flags...)
	return runCmd(t, p.entry("init", append(args, p.uuid)...))
}

func (p *testPod) file(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// appLines returns the lines app wrote to out, without the
// "<app>[<pid>]: " prefix.
func appLines(out, app string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, app+"[") {
			continue
		}
		if _, rest, ok := strings.Cut(l, "]: "); ok {
			lines = append(lines, rest)
		}
	}
	return lines
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// runningPod is a pod started in the background.
type runningPod struct {
	cmd         *exec.Cmd
	out, errOut *syncBuffer
	done        chan result
}

// start starts the pod and waits until the supervisor reports ready.
func (p *testPod) start(t *testing.T, flags ...string) *runningPod {
	t.Helper()
	args := append([]string{"--net=none"}, flags...)
	rp := &runningPod{cmd: p.entry("init", append(args, p.uuid)...), out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan result, 1)}
	rp.cmd.Stdout, rp.cmd.Stderr = rp.out, rp.errOut
	if err := rp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := rp.cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		rp.done <- result{rp.out.String(), rp.errOut.String(), code}
	}()
	t.Cleanup(func() {
		rp.cmd.Process.Kill()
		<-rp.done
	})
	ready := filepath.Join(p.dir, "stage1/rootfs/rkt/supervisor-status")
	sock := filepath.Join(p.dir, "stage1/rootfs/rkt/enter.sock")
	for {
		_, e1 := os.Stat(ready)
		_, e2 := os.Stat(sock)
		if e1 == nil && e2 == nil {
			return rp
		}
		select {
		case r := <-rp.done:
			rp.done <- r
			t.Fatalf("pod ended before ready: code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitOutput waits until the pod's stdout holds s.
func (rp *runningPod) waitOutput(t *testing.T, s string) {
	t.Helper()
	for !strings.Contains(rp.out.String(), s) {
		select {
		case r := <-rp.done:
			rp.done <- r
			t.Fatalf("pod ended before printing %q: code %d\nstdout:\n%s\nstderr:\n%s", s, r.code, r.stdout, r.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (rp *runningPod) wait(t *testing.T) result {
	t.Helper()
	r := <-rp.done
	rp.done <- r
	return r
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
