package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// Functional tests of stage1-nspawn through `saturn run`: what apps see
// inside a pod, how the pod ends, stop and enter.

// s1Images builds the two images these tests use: busybox (app name
// "busybox") and the test app (app name "testapp").
func s1Images(t *testing.T, modify func(*schema.ImageManifest)) (busybox, testapp string) {
	t.Helper()
	return testimg.Busybox(t, testimg.Options{Modify: modify}), testimg.TestApp(t, testimg.Options{})
}

// s1Run runs saturn run with the nspawn stage1 and --net=none, with args
// after the run flags, and returns the result and the pod's UUID.
func s1Run(t *testing.T, e *env, args ...string) (result, string) {
	t.Helper()
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	base := []string{"run", "--insecure-options=image", "--stage1-path=" + stage1Image("stage1-nspawn"), "--net=none", "--uuid-file-save=" + uuidFile}
	r := e.saturn(append(base, args...)...)
	b, _ := os.ReadFile(uuidFile)
	return r, strings.TrimSpace(string(b))
}

// s1Lines returns what app printed, without the "<app>[<pid>]: " prefix.
func s1Lines(out, app string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, app+"["); ok {
			if _, line, ok := strings.Cut(rest, "]: "); ok {
				lines = append(lines, line)
			}
		}
	}
	return lines
}

// s1Status returns the app-NAME=CODE lines of saturn status.
func s1Status(t *testing.T, e *env, uuid string) map[string]string {
	t.Helper()
	out := e.mustSaturn("status", uuid)
	st := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			st[k] = v
		}
	}
	return st
}

func TestStage1AppsSharePodNamespaces(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	side := testimg.Busybox(t, testimg.Options{Name: "example.com/sidecar", Files: map[string]string{"only-sidecar": "x"}})
	// The sidecar sets its trap before it publishes its pid, so the
	// SIGTERM cannot come before it is handled.
	sidecar := `trap 'echo got term; exit 0' TERM; echo $$ > /shared/pid; while :; do sleep 0.05; done`
	script := `until [ -s /shared/pid ]; do sleep 0.05; done
b=$(cat /shared/pid)
hostname
[ -d /proc/$b ] && echo "sees sidecar"
for ns in pid uts ipc; do [ "$(readlink /proc/self/ns/$ns)" = "$(readlink /proc/$b/ns/$ns)" ] && echo "same $ns"; done
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$b/ns/mnt)" ] && echo "own mnt"
[ -e /only-sidecar ] && echo "sees sidecar's rootfs"
kill -TERM $b`
	r, uuid := s1Run(t, e, "--hostname=podhost", "--volume=shared,kind=empty", "--mount=volume=shared,target=/shared",
		bb, "--exec=/bin/sh", "--", "-c", script, "---", side, "--exec=/bin/sh", "--", "-c", sidecar)
	if r.Code != 0 {
		t.Fatalf("saturn run: %s", r)
	}
	want := []string{"podhost", "sees sidecar", "same pid", "same uts", "same ipc", "own mnt"}
	if got := s1Lines(r.Stdout, "busybox"); !slices.Equal(got, want) {
		t.Errorf("busybox printed %q, want %q", got, want)
	}
	if got := s1Lines(r.Stdout, "sidecar"); !slices.Equal(got, []string{"got term"}) {
		t.Errorf("sidecar printed %q", got)
	}
	st := s1Status(t, e, uuid)
	if st["app-busybox"] != "0" || st["app-sidecar"] != "0" {
		t.Errorf("status %v, want both apps 0", st)
	}
}

func TestStage1ExitCodePropagates(t *testing.T) {
	e := newEnv(t)
	bb, ta := s1Images(t, nil)
	r, uuid := s1Run(t, e, bb, "--exec=/bin/sh", "--", "-c", "until pidof testapp; do sleep 0.05; done; exit 42", "---", ta, "--exec=/testapp", "--", "wait-signal")
	if r.Code != 42 {
		t.Fatalf("saturn run exited %d, want 42: %s", r.Code, r)
	}
	st := s1Status(t, e, uuid)
	if st["app-busybox"] != "42" {
		t.Errorf("status %v, want app-busybox=42", st)
	}
}

func TestStage1AppIdentityAndEnvironment(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{Modify: func(m *schema.ImageManifest) {
		m.App.Environment.Set("FROM_IMAGE", "yes")
	}})
	r, _ := s1Run(t, e, "--set-env=POD_VAR=pod", bb, "--user=tester", "--group=extra", "--supplementary-gids=1000,65534",
		"--working-dir=/home/tester", "--environment=APP_VAR=app", "--exec=/bin/sh", "--", "-c", "id -u; id -g; id -G; pwd; env")
	if r.Code != 0 {
		t.Fatalf("saturn run: %s", r)
	}
	got := s1Lines(r.Stdout, "busybox")
	if want := []string{"1000", "1001", "1001 1000 65534", "/home/tester"}; len(got) < 4 || !slices.Equal(got[:4], want) {
		t.Fatalf("identity lines %q, want %q", got, want)
	}
	for _, want := range []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "AC_APP_NAME=busybox", "FROM_IMAGE=yes", "APP_VAR=app", "POD_VAR=pod"} {
		if !slices.Contains(got[4:], want) {
			t.Errorf("environment lacks %s: %q", want, got[4:])
		}
	}
}

func TestStage1Volumes(t *testing.T) {
	e := newEnv(t)
	rw, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "in"), []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bb := testimg.Busybox(t, testimg.Options{Modify: func(m *schema.ImageManifest) {
		m.App.MountPoints = []types.MountPoint{{Name: "scratch", Path: "/scratch"}}
	}})
	script := `cat /ro/in; touch /ro/x 2>/dev/null || echo ro refused
echo out > /rw/out && echo rw ok
echo note > /scratch/note && cat /scratch/note
touch /rootfile 2>/dev/null || echo rootfs read-only`
	r, _ := s1Run(t, e,
		"--volume=rw,kind=host,source="+rw, "--volume=ro,kind=host,source="+ro+",readOnly=true", "--volume=scratch,kind=empty",
		bb, "--readonly-rootfs", "--mount=volume=rw,target=/rw", "--mount=volume=ro,target=/ro", "--exec=/bin/sh", "--", "-c", script)
	if r.Code != 0 {
		t.Fatalf("saturn run: %s", r)
	}
	want := []string{"host data", "ro refused", "rw ok", "note", "rootfs read-only"}
	if got := s1Lines(r.Stdout, "busybox"); !slices.Equal(got, want) {
		t.Errorf("printed %q, want %q", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "out\n" {
		t.Errorf("rw volume on the host: %q, %v", b, err)
	}
}

// --stdout=null and --stderr=null drop that stream of one app; the
// other stream and the other apps still reach the pod's output.
func TestStage1NullStdio(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	side := testimg.Busybox(t, testimg.Options{Name: "example.com/sidecar"})
	both := "echo to-out; echo to-err >&2"
	r, _ := s1Run(t, e, bb, "--stdout=null", "--exec=/bin/sh", "--", "-c", both,
		"---", side, "--stderr=null", "--exec=/bin/sh", "--", "-c", both)
	if r.Code != 0 {
		t.Fatalf("saturn run: %s", r)
	}
	for _, tc := range []struct {
		app, stream, out string
		want             []string
	}{
		{"busybox", "stdout", r.Stdout, nil},
		{"busybox", "stderr", r.Stderr, []string{"to-err"}},
		{"sidecar", "stdout", r.Stdout, []string{"to-out"}},
		{"sidecar", "stderr", r.Stderr, nil},
	} {
		if got := s1Lines(tc.out, tc.app); !slices.Equal(got, tc.want) {
			t.Errorf("%s's %s: %q, want %q", tc.app, tc.stream, got, tc.want)
		}
	}
}

func TestStage1BadInputRefused(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{bb, "--exec=/bin/nonexistent"}, `saturn run: app "busybox": executable "/bin/nonexistent" not found in image example.com/busybox`},
		{[]string{bb, "--user=ghost"}, `saturn run: app "busybox": user "ghost" not found in image example.com/busybox`},
		{[]string{bb, "--group=ghosts"}, `saturn run: app "busybox": group "ghosts" not found in image example.com/busybox`},
	} {
		r, _ := s1Run(t, e, tc.args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) || strings.Contains(r.Stdout, "busybox[") {
			t.Errorf("run %v: want failure mentioning %q before the app starts, got %s", tc.args, tc.want, r)
		}
	}
}

// s1Background is a saturn run left running.
type s1Background struct {
	cmd  *exec.Cmd
	out  *s1Buffer
	done chan int
	uuid string
}

type s1Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *s1Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *s1Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startBackground starts cmd, its stdout and stderr going to bg.out, and
// kills it when the test ends if it still runs.
func startBackground(t *testing.T, cmd *exec.Cmd) *s1Background {
	t.Helper()
	bg := &s1Background{cmd: cmd, out: &s1Buffer{}, done: make(chan int, 1)}
	bg.cmd.Stdout, bg.cmd.Stderr = bg.out, bg.out
	if err := bg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		bg.cmd.Wait()
		bg.done <- bg.cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		bg.cmd.Process.Kill()
		<-bg.done
	})
	return bg
}

// s1Start starts saturn run of stage1-nspawn with --net=none and waits
// until stdout holds ready.
func s1Start(t *testing.T, e *env, ready string, args ...string) *s1Background {
	t.Helper()
	return netStart(t, e, ready, append([]string{"--stage1-path=" + stage1Image("stage1-nspawn"), "--net=none"}, args...)...)
}

func (bg *s1Background) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-bg.done:
		bg.done <- code
		return code
	case <-time.After(time.Minute):
		t.Fatalf("pod still running a minute after it was told to stop:\n%s", bg.out)
		return 0
	}
}

func TestStage1EnterAndStop(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	bg := s1Start(t, e, "ready", ta, "--exec=/testapp", "--", "wait-signal")
	r := e.saturn("enter", bg.uuid, "/testapp", "env")
	if r.Code != 0 || !strings.Contains(r.Stdout, "AC_APP_NAME=testapp\n") {
		t.Errorf("enter env: %s", r)
	}
	r = e.saturn("enter", "--app=testapp", bg.uuid, "/testapp", "exit", "9")
	if r.Code != 9 {
		t.Errorf("enter exit 9: %s", r)
	}
	// The entered command is bounded like the app, never given the
	// supervisor's (pid 1's) full capability set.
	r = e.saturn("enter", bg.uuid, "/testapp", "cat", "/proc/self/status", "/proc/1/status")
	if bnd := capBndLines(r.Stdout); r.Code != 0 || len(bnd) != 2 || bnd[0] == bnd[1] {
		t.Errorf("entered command's CapBnd %q, want one narrower than pid 1's\n%s", bnd, r)
	}
	e.mustSaturn("stop", bg.uuid)
	if code := bg.wait(t); code != 0 {
		t.Errorf("pod exited %d after a graceful stop, want 0:\n%s", code, bg.out)
	}
	if got := s1Lines(bg.out.String(), "testapp"); !slices.Equal(got, []string{"ready", "got terminated"}) {
		t.Errorf("app printed %q, want it to get SIGTERM", got)
	}
}

func TestStage1StopForce(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	bg := s1Start(t, e, "ready", ta, "--exec=/testapp", "--", "wait-signal")
	e.mustSaturn("stop", "--force", bg.uuid)
	if code := bg.wait(t); code == 0 {
		t.Errorf("pod exited 0 after stop --force, want the kill's code")
	}
	if strings.Contains(bg.out.String(), "got terminated") {
		t.Errorf("app saw SIGTERM on a forced stop:\n%s", bg.out)
	}
}

// --dns and --hosts-entry make stage0 write the files into the stage1
// rootfs; stage1-nspawn shows them to every app.
func TestStage1DNSFromStage0(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	r, _ := s1Run(t, e, "--dns=192.0.2.53", "--dns-search=example.test", "--hosts-entry=192.0.2.7=db.example.test",
		bb, "--exec=/bin/sh", "--", "-c", "grep nameserver /etc/resolv.conf; grep search /etc/resolv.conf; grep -c db.example.test /etc/hosts")
	want := []string{"nameserver 192.0.2.53", "search example.test", "1"}
	if got := s1Lines(r.Stdout, "busybox"); r.Code != 0 || !slices.Equal(got, want) {
		t.Errorf("app printed %q, want %q\n%s", got, want, r)
	}
}

// As rkt: --net=host alone leaves the image's /etc/resolv.conf (or none)
// in place; --dns=host and --hosts-entry=host bind the host's files,
// read-only, so an app cannot rewrite the host's name resolution.
func TestStage1DNSWithHostNetwork(t *testing.T) {
	e := newEnv(t)
	withResolv := testimg.Busybox(t, testimg.Options{Name: "example.com/with-resolv", Files: map[string]string{"etc/resolv.conf": "nameserver 192.0.2.99\n"}})
	bb := testimg.Busybox(t, testimg.Options{})
	show := "cat /etc/resolv.conf 2>/dev/null || echo no-resolv.conf"
	r, _ := s1Run(t, e, "--net=host", withResolv, "--exec=/bin/sh", "--", "-c", show)
	if got := s1Lines(r.Stdout, "with-resolv"); r.Code != 0 || !slices.Equal(got, []string{"nameserver 192.0.2.99"}) {
		t.Errorf("--net=host: app saw %q, want the image's resolv.conf\n%s", got, r)
	}
	r, _ = s1Run(t, e, "--net=host", bb, "--exec=/bin/sh", "--", "-c", show)
	if got := s1Lines(r.Stdout, "busybox"); r.Code != 0 || !slices.Equal(got, []string{"no-resolv.conf"}) {
		t.Errorf("--net=host, image without resolv.conf: app saw %q\n%s", got, r)
	}

	hostResolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	// The mount options (field 6 of mountinfo) say whether the bind is
	// read-only without writing to the host's file.
	opts := `for f in /etc/resolv.conf /etc/hosts; do grep " $f " /proc/self/mountinfo | cut -d" " -f6 | cut -d, -f1; done; cat /etc/resolv.conf`
	r, _ = s1Run(t, e, "--net=host", "--dns=host", "--hosts-entry=host", withResolv, "--exec=/bin/sh", "--", "-c", opts)
	want := append([]string{"ro", "ro"}, strings.Split(strings.TrimRight(string(hostResolv), "\n"), "\n")...)
	if got := s1Lines(r.Stdout, "with-resolv"); r.Code != 0 || !slices.Equal(got, want) {
		t.Errorf("--dns=host --hosts-entry=host: app saw %q, want %q\n%s", got, want, r)
	}
}

// Besides the ACE variables, apps get HOME, USER, LOGNAME and SHELL as
// rkt's stage1 sets them, but for the app's own user (rkt used root's
// whatever the user): from the image's /etc/passwd, unless the manifest
// sets them.
func TestStage1UserEnvironment(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	cmd := e.command(append(runBase(e, filepath.Join(t.TempDir(), "uuid")),
		ta, "--exec=/testapp", "--user=tester", "--", "env", "---",
		ta, "--name=root", "--exec=/testapp", "--", "env", "---",
		ta, "--name=numeric", "--exec=/testapp", "--user=4242", "--", "env", "---",
		ta, "--name=set", "--exec=/testapp", "--user=tester", "--environment=HOME=/data", "--", "env")...)
	cmd.Env = append(os.Environ(), "HOME=/host-home", "USER=host-user")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for app, want := range map[string][]string{
		"testapp": {"HOME=/home/tester", "USER=tester", "LOGNAME=tester", "SHELL=/bin/sh"},
		"root":    {"HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/sh"},
		"numeric": {"HOME=/", "SHELL=/bin/sh"},
		"set":     {"HOME=/data", "USER=tester"},
	} {
		env := appLines(string(out), app)
		for _, w := range want {
			if !slices.Contains(env, w) {
				t.Errorf("app %s lacks %s: %q", app, w, env)
			}
		}
		for _, kv := range env {
			if kv == "HOME=/host-home" || kv == "USER=host-user" || (app == "numeric" && strings.HasPrefix(kv, "USER=")) {
				t.Errorf("app %s has %s", app, kv)
			}
		}
	}
}

// capBndLines returns the CapBnd lines of /proc/<pid>/status texts.
func capBndLines(status string) []string {
	var out []string
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, "CapBnd:") {
			out = append(out, l)
		}
	}
	return out
}
