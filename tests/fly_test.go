package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// flyImage builds a busybox image whose app runs script with sh.
func flyImage(t *testing.T, script string) string {
	t.Helper()
	return testimg.Busybox(t, testimg.Options{Exec: []string{"/bin/sh", "-c", script}})
}

// flyRun runs a pod with stage1-fly and returns what saturn run did and
// the pod's UUID. args are run's images and flags after the stage1 flag.
func (e *env) flyRun(args ...string) (result, string) {
	e.t.Helper()
	uuidFile := filepath.Join(e.Dir, "..", "uuid-"+strings.ReplaceAll(e.t.Name(), "/", "_"))
	runArgs := append([]string{"run", "--insecure-options=image", "--stage1-path=" + stage1Image("stage1-fly"),
		"--uuid-file-save=" + uuidFile}, args...)
	r := e.saturn(runArgs...)
	uuid, _ := os.ReadFile(uuidFile)
	os.Remove(uuidFile)
	return r, strings.TrimSpace(string(uuid))
}

// appStatus returns the app's exit status as one `saturn status` shows it.
// With no supervisor, fly's exit watcher writes it just after the app
// (saturn run's process) is gone; status waits for the watcher, so it is
// there as soon as saturn run has returned.
func (e *env) appStatus(uuid, app string) string {
	e.t.Helper()
	out := e.mustSaturn("status", uuid)
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "app-"+app+"="); ok {
			return v
		}
	}
	e.t.Fatalf("status of %s does not show the exit status of app %s:\n%s", uuid, app, out)
	return ""
}

// TestFlyStatusWaitsForWatcher holds stage1-fly's exit watcher stopped
// while the app exits, so the pod counts as exited before its exit status
// is written, as can happen by chance just after saturn run returns.
// status must wait for the watcher rather than print no exit status. Only
// an app exec'ed in saturn run's place has a watcher: one that takes
// sockets from socket activation, which must keep the pid LISTEN_PID
// names.
func TestFlyStatusWaitsForWatcher(t *testing.T) {
	e := newEnv(t)
	img := testimg.Busybox(t, testimg.Options{
		Exec: []string{"/bin/sh", "-c", `trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done`},
		Modify: func(m *schema.ImageManifest) {
			m.App.Ports = []types.Port{{Name: "http", Protocol: "tcp", Port: 8000, Count: 1, SocketActivated: true}}
		},
	})
	ports := freeLoopbackPorts(t, 1)
	bg := socketActivated(t, e, ports, "http", "run", "--insecure-options=image", "--stage1-path="+stage1Image("stage1-fly"), "--net=host", img)
	// The connection starts the pod.
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitOutput(t, bg, "ready")
	pods, _ := filepath.Glob(filepath.Join(e.Dir, "pods", "run", "*"))
	if len(pods) != 1 {
		t.Fatalf("running pods %v", pods)
	}
	uuid := filepath.Base(pods[0])
	b, err := os.ReadFile(filepath.Join(pods[0], "stage1", "rootfs", "rkt", "fly-watcher"))
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("watcher pid %q: %v", b, err)
	}
	if err := syscall.Kill(watcher, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resume := func() { syscall.Kill(watcher, syscall.SIGCONT) }
	t.Cleanup(resume)
	b, err = os.ReadFile(filepath.Join(pods[0], "pid"))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(app, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := bg.wait(t); code != 3 {
		t.Fatalf("the app exited %d, want its TERM trap's 3:\n%s", code, bg.out)
	}
	if e.mustSaturn("list", "--no-legend") == "" {
		t.Fatal("the pod is gone")
	}
	status := e.command("status", uuid)
	var stdout bytes.Buffer
	status.Stdout = &stdout
	if err := status.Start(); err != nil {
		t.Fatal(err)
	}
	// Let status find the pod exited without a status before the
	// watcher may write it.
	time.Sleep(300 * time.Millisecond)
	resume()
	if err := status.Wait(); err != nil {
		t.Fatalf("status: %v\n%s", err, stdout.String())
	}
	if !strings.Contains(stdout.String(), "state=exited\n") || !strings.Contains(stdout.String(), "app-busybox=3\n") {
		t.Errorf("status while the exit watcher was stopped:\n%s", stdout.String())
	}
}

// A fly pod stopped on request exits 0 like a stage1-nspawn pod, though
// its app died of the stop's SIGTERM, which its status still records;
// saturn run is the app's parent and the pod's pid throughout.
func TestFlyStopExitsZero(t *testing.T) {
	e := newEnv(t)
	img := flyImage(t, `echo ready; exec sleep 3600`)
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	cmd := e.command("run", "--insecure-options=image", "--stage1-path="+stage1Image("stage1-fly"), "--uuid-file-save="+uuidFile, img)
	bg := startBackground(t, cmd)
	waitOutput(t, bg, "ready")
	uuid := waitUUIDFile(t, uuidFile)
	if st := statusMap(e.mustSaturn("status", uuid)); st["pid"] != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("status pid %s, want saturn run's %d", st["pid"], cmd.Process.Pid)
	}
	e.mustSaturn("stop", uuid)
	if code := bg.wait(t); code != 0 {
		t.Errorf("the stopped pod exited %d, want 0:\n%s", code, bg.out)
	}
	if got := e.appStatus(uuid, "busybox"); got != "143" {
		t.Errorf("status app-busybox=%s, want 143 (SIGTERM)", got)
	}
}

func nsLink(t testing.TB, kind string) string {
	t.Helper()
	l, err := os.Readlink("/proc/self/ns/" + kind)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFlyHostNamespaces(t *testing.T) {
	e := newEnv(t)
	img := flyImage(t, `for n in pid net uts mnt; do readlink /proc/self/ns/$n; done; cat /proc/1/comm`)
	r, _ := e.flyRun(img)
	if r.Code != 0 {
		t.Fatalf("run: %s", r)
	}
	lines := strings.Split(r.Stdout, "\n")
	if len(lines) < 5 {
		t.Fatalf("unexpected output:\n%s", r)
	}
	for i, kind := range []string{"pid", "net", "uts"} {
		if lines[i] != nsLink(t, kind) {
			t.Errorf("%s namespace %s, host's %s", kind, lines[i], nsLink(t, kind))
		}
	}
	if lines[3] == nsLink(t, "mnt") {
		t.Errorf("fly app shares the host's mount namespace %s; it needs a private one", lines[3])
	}
	host, err := os.ReadFile("/proc/1/comm")
	if err != nil {
		t.Fatal(err)
	}
	if lines[4] != strings.TrimSpace(string(host)) {
		t.Errorf("app's pid 1 is %q, host's %q", lines[4], host)
	}
}

func TestFlyNetworkLoopback(t *testing.T) {
	// The app reaches a server listening on the host's loopback: the
	// network namespace is the host's.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "host-server\n")
	}))
	defer srv.Close()
	e := newEnv(t)
	r, _ := e.flyRun(flyImage(t, "wget -q -O - "+srv.URL))
	if r.Code != 0 || r.Stdout != "host-server\n" {
		t.Fatalf("app could not reach %s on the host's loopback: %s", srv.URL, r)
	}
}

func TestFlyVolumes(t *testing.T) {
	e := newEnv(t)
	rw, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "motd"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := flyImage(t, `cat /ro/motd && echo from-app >/rw/out && ! touch /ro/x 2>/dev/null && echo done`)
	r, _ := e.flyRun(
		"--volume=rw,kind=host,source="+rw, "--volume=ro,kind=host,source="+ro+",readOnly=true",
		img, "--mount=volume=rw,target=/rw", "--mount=volume=ro,target=/ro")
	if r.Code != 0 || r.Stdout != "from the host\ndone\n" {
		t.Fatalf("run: %s", r)
	}
	b, err := os.ReadFile(filepath.Join(rw, "out"))
	if err != nil || string(b) != "from-app\n" {
		t.Errorf("app's write did not reach the host: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "x")); err == nil {
		t.Error("read-only volume was written")
	}
}

func TestFlyExitCode(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		script string
		want   int
		status string
	}{
		{"exit 0", 0, "0"},
		{"exit 42", 42, "42"},
		{"kill -KILL $$", 137, "137"},
	} {
		r, uuid := e.flyRun(flyImage(t, tc.script))
		code := r.Code
		if code == -1 {
			code = 137 // saturn run itself died of the app's SIGKILL
		}
		if code != tc.want {
			t.Errorf("%q: saturn run exited %d, want %d\n%s", tc.script, r.Code, tc.want, r)
			continue
		}
		if got := e.appStatus(uuid, "busybox"); got != tc.status {
			t.Errorf("%q: status app-busybox=%s, want %s", tc.script, got, tc.status)
		}
	}
}

// On fly the app has saturn run's streams themselves; --stdout=null and
// --stderr=null put /dev/null in their place.
func TestFlyNullStdio(t *testing.T) {
	e := newEnv(t)
	img := flyImage(t, "echo to-out; echo to-err >&2")
	for _, tc := range []struct {
		flag, out string
		err       bool
	}{
		{"--stdout=log", "to-out\n", true},
		{"--stdout=null", "", true},
		{"--stderr=null", "to-out\n", false},
	} {
		// stderr also holds saturn's own warnings.
		r, _ := e.flyRun(img, tc.flag)
		if r.Code != 0 || r.Stdout != tc.out || strings.Contains(r.Stderr, "to-err\n") != tc.err {
			t.Errorf("%s: exit %d, stdout %q (want %q), stderr %q (want to-err: %v)", tc.flag, r.Code, r.Stdout, tc.out, r.Stderr, tc.err)
		}
	}
}

// startFly starts saturn run of a fly pod whose app prints "ready" and
// waits, trapping SIGTERM to exit 3.
func startFly(t *testing.T, e *env) (*exec.Cmd, *bufio.Reader, string) {
	t.Helper()
	img := flyImage(t, `trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done`)
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	cmd := e.command("run", "--insecure-options=image", "--stage1-from-dir=stage1-fly.aci", "--uuid-file-save="+uuidFile, img)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	out := bufio.NewReader(pipe)
	if line, _ := out.ReadString('\n'); line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("app said %q; stderr:\n%s", line, stderr.String())
	}
	uuid, err := os.ReadFile(uuidFile)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, out, strings.TrimSpace(string(uuid))
}

func TestFlySignalReachesApp(t *testing.T) {
	e := newEnv(t)
	cmd, out, uuid := startFly(t, e)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(out)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 || string(rest) != "got-term\n" {
		t.Fatalf("after SIGTERM to saturn run: exit %d, output %q; want the app's trap (3)", code, rest)
	}
	if got := e.appStatus(uuid, "busybox"); got != "3" {
		t.Errorf("status app-busybox=%s, want 3", got)
	}
}

func TestFlyLifecycle(t *testing.T) {
	e := newEnv(t)
	cmd, _, uuid := startFly(t, e)
	if list := e.mustSaturn("list", "--no-legend", "--full"); !strings.Contains(list, uuid) || !strings.Contains(list, "running") {
		t.Errorf("list does not show %s running:\n%s", uuid, list)
	}
	if st := e.mustSaturn("status", uuid); !strings.Contains(st, "state=running") || !strings.Contains(st, "pid="+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("status of the running fly pod:\n%s", st)
	}
	if out := e.mustSaturn("enter", uuid, "/bin/sh", "-c", "echo entered; cat /proc/1/comm >/dev/null"); out != "entered\n" {
		t.Errorf("enter printed %q", out)
	}
	e.mustSaturn("stop", uuid)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("saturn stop did not end the fly pod")
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("stopped pod exited %d, want the app's TERM trap code 3", code)
	}
	if got := e.appStatus(uuid, "busybox"); got != "3" {
		t.Errorf("status app-busybox=%s, want 3", got)
	}
	e.mustSaturn("rm", uuid)
	if list := e.mustSaturn("list", "--no-legend", "--full"); strings.Contains(list, uuid) {
		t.Errorf("rm left the pod listed:\n%s", list)
	}
}

func TestFlyGC(t *testing.T) {
	e := newEnv(t)
	r, uuid := e.flyRun(flyImage(t, "true"))
	if r.Code != 0 {
		t.Fatalf("run: %s", r)
	}
	e.mustSaturn("gc", "--grace-period=0s")
	if list := e.mustSaturn("list", "--no-legend", "--full"); strings.Contains(list, uuid) {
		t.Errorf("gc left the pod:\n%s", list)
	}
	if left := mountsUnder(e.Dir); len(left) > 0 {
		t.Errorf("mounts left after gc: %v", left)
	}
}

func TestFlyRefuses(t *testing.T) {
	e := newEnv(t)
	img := flyImage(t, "true")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		// stage0 refuses these, as the stage1's annotations say.
		{"two apps", []string{img, "--name=one", img, "--name=two"}, "runs at most 1 app(s) per pod; this pod has 2"},
		{"memory limit", []string{img, "--memory=64M"}, "cannot apply isolator resource/memory"},
		{"no network", []string{"--net=none", img}, "stage1-fly does not support --net=none; it supports --net=host, --net=default"},
		{"own hostname", []string{"--hostname=mypod", img}, "cannot honour --hostname"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := e.withT(t).flyRun(tc.args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("want failure mentioning %q:\n%s", tc.want, r)
			}
		})
	}
}

// pidNSImage prints the app's pid namespace: the host's under stage1-fly,
// a new one under stage1-nspawn.
func pidNSImage(t *testing.T) string {
	return testimg.Busybox(t, testimg.Options{Exec: []string{"/bin/readlink", "/proc/self/ns/pid"}})
}

// runsOnFly runs img with the stage1 flags and reports whether the app
// ran in the host's pid namespace (stage1-fly).
func (e *env) runsOnFly(img string, flags ...string) bool {
	e.t.Helper()
	args := append([]string{"run", "--insecure-options=image,http", "--net=host"}, flags...)
	out := e.mustSaturn(append(args, img)...)
	return strings.TrimSpace(out) == nsLink(e.t, "pid")
}

// storedID returns the id of the stored image called name.
func (e *env) storedID(name string) string {
	e.t.Helper()
	out := e.mustSaturn("image", "list", "--no-legend", "--full", "--fields=id,name")
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && strings.HasPrefix(f[1], name+":") {
			return f[0]
		}
	}
	e.t.Fatalf("no image %s in the store:\n%s", name, out)
	return ""
}

func TestStage1Flags(t *testing.T) {
	e := newEnv(t)
	img := pidNSImage(t)
	fly := stage1Image("stage1-fly")
	if e.runsOnFly(img) {
		t.Fatal("the default stage1 ran the app in the host's pid namespace; want stage1-nspawn")
	}
	if !e.runsOnFly(img, "--stage1-path="+fly) {
		t.Error("--stage1-path did not pick stage1-fly")
	}
	id := e.storedID("saturn-pods.org/stage1-fly")
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(fly))))
	defer srv.Close()
	for _, flag := range []string{
		"--stage1-from-dir=stage1-fly.aci",
		"--stage1-url=file://" + fly,
		"--stage1-url=" + srv.URL + "/stage1-fly.aci",
		"--stage1-hash=" + id,
		"--stage1-hash=" + id[:20],
		"--stage1-name=saturn-pods.org/stage1-fly",
	} {
		if !e.runsOnFly(img, flag) {
			t.Errorf("%s did not pick stage1-fly", flag)
		}
	}
	// Switching is per pod: the next pod without flags is back on nspawn.
	if e.runsOnFly(img) {
		t.Error("a pod without stage1 flags ran on stage1-fly")
	}
}

func TestStage1FlagErrors(t *testing.T) {
	e := newEnv(t)
	img := pidNSImage(t)
	notStage1 := testimg.Busybox(t, testimg.Options{})
	tooNew := testimg.Busybox(t, testimg.Options{Name: "example.com/future-stage1", Modify: func(m *schema.ImageManifest) {
		m.Annotations.Set(types.ACIdentifier("coreos.com/rkt/stage1/run"), "/bin/true")
		m.Annotations.Set(types.ACIdentifier("coreos.com/rkt/stage1/interface-version"), "6")
	}})
	before := e.mustSaturn("image", "list", "--no-legend", "--full", "--fields=id")
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--stage1-path=" + stage1Image("stage1-fly"), "--stage1-from-dir=stage1-fly.aci"}, "are mutually exclusive"},
		{[]string{"--stage1-path=/nonexistent/stage1.aci"}, "/nonexistent/stage1.aci"},
		{[]string{"--stage1-from-dir=../stage1-fly.aci"}, "not a path"},
		{[]string{"--stage1-from-dir=nope.aci"}, "nope.aci"},
		{[]string{"--stage1-url=ftp://example.com/s1.aci"}, `unsupported URL scheme "ftp"`},
		{[]string{"--stage1-hash=sha512-0123456789abcdef"}, "sha512-0123456789abcdef"},
		// Discovery of this name only reaches the loopback, where nothing listens.
		{[]string{"--stage1-name=localhost/no-such-stage1"}, "localhost/no-such-stage1"},
		{[]string{"--stage1-path=" + notStage1}, "is not a stage1 image: no coreos.com/rkt/stage1/run annotation"},
		{[]string{"--stage1-path=" + tooNew}, "speaks stage1 interface version 6; saturn supports up to 5"},
	} {
		args := append([]string{"run", "--insecure-options=image"}, tc.flags...)
		e.failSaturn(tc.want, append(args, img)...)
	}
	// Refused stage1 images leave no pod behind; the store keeps only what
	// was imported whole (the refused images are valid ACIs).
	if list := e.mustSaturn("list", "--no-legend"); strings.TrimSpace(list) != "" {
		t.Errorf("refused runs left pods:\n%s", list)
	}
	after := e.mustSaturn("image", "list", "--no-legend", "--full", "--fields=id")
	for _, id := range strings.Fields(before) {
		if !strings.Contains(after, id) {
			t.Errorf("image %s vanished from the store", id)
		}
	}
}

func TestFlyReadOnlyRootfs(t *testing.T) {
	e := newEnv(t)
	img := flyImage(t, `touch /etc/x 2>/dev/null && echo rootfs-writable; echo ok >/tmp/y && cat /tmp/y`)
	r, _ := e.flyRun(img, "--readonly-rootfs=true")
	if r.Code != 0 || r.Stdout != "ok\n" {
		t.Fatalf("want a read-only rootfs with a writable /tmp:\n%s", r)
	}
}

func TestFlyPrepared(t *testing.T) {
	e := newEnv(t)
	img := flyImage(t, "readlink /proc/self/ns/pid; exit 5")
	out := e.mustSaturn("prepare", "--quiet", "--insecure-options=image", "--stage1-from-dir=stage1-fly.aci", img)
	uuid := strings.TrimSpace(out)
	r := e.saturn("run-prepared", uuid)
	if r.Code != 5 || strings.TrimSpace(r.Stdout) != nsLink(t, "pid") {
		t.Fatalf("run-prepared of a fly pod: want exit 5 in the host's pid namespace:\n%s", r)
	}
	if got := e.appStatus(uuid, "busybox"); got != "5" {
		t.Errorf("status app-busybox=%s, want 5", got)
	}
}

func TestFlyImageMountPoints(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	img := testimg.Busybox(t, testimg.Options{
		Exec: []string{"/bin/sh", "-c", `echo data >/data/f && echo scratch >/scratch/f && cat /scratch/f`},
		Modify: func(m *schema.ImageManifest) {
			m.App.MountPoints = []types.MountPoint{{Name: "data", Path: "/data"}, {Name: "scratch", Path: "/scratch"}}
		},
	})
	// data gets the volume of its name, scratch an implicit empty one.
	r, _ := e.flyRun("--volume=data,kind=host,source="+src, img)
	if r.Code != 0 || r.Stdout != "scratch\n" {
		t.Fatalf("run: %s", r)
	}
	if b, err := os.ReadFile(filepath.Join(src, "f")); err != nil || string(b) != "data\n" {
		t.Errorf("write to the data mount point: %q %v", b, err)
	}
}

// TestFlyStopLeftovers: the app exits leaving a daemonized child, which
// keeps the pod running; saturn stop must end that child so the pod can
// be removed (rkt #3295).
func TestFlyStopLeftovers(t *testing.T) {
	e := newEnv(t)
	r, uuid := e.flyRun(flyImage(t, "sleep 1000 >/dev/null 2>&1 & echo $!"))
	child, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
	if r.Code != 0 || err != nil {
		t.Fatalf("run: %s", r)
	}
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	if out := e.mustSaturn("status", uuid); !strings.Contains(out, "state=running\n") {
		t.Fatalf("the pod with a leftover child is not running:\n%s", out)
	}
	e.mustSaturn("stop", uuid)
	out := ""
	for i := 0; i < 200; i++ {
		if out = e.mustSaturn("status", uuid); strings.Contains(out, "state=exited\n") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out, "state=exited\n") {
		t.Fatalf("pod still not exited after stop:\n%s", out)
	}
	e.mustSaturn("rm", uuid)
}

// Under a Type=notify unit a fly pod is ready once its app is about to
// run: stage1-fly, the unit's main pid until the app replaces it, says
// READY=1. The app's environment is its manifest's, without the host's
// NOTIFY_SOCKET.
func TestFlyNotifyReady(t *testing.T) {
	e := newEnv(t)
	conn, sock := notifyListener(t)
	img := flyImage(t, `if [ -n "$NOTIFY_SOCKET" ]; then echo has-socket; else echo no-socket; fi; exec sleep 600`)
	cmd := e.command("run", "--insecure-options=image", "--stage1-path="+stage1Image("stage1-fly"), img)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if msg := nextNotify(t, conn); msg != "READY=1" {
		t.Fatalf("notification %q, want READY=1\n%s", msg, stderr.String())
	}
	if line, _ := bufio.NewReader(pipe).ReadString('\n'); line != "no-socket\n" {
		t.Errorf("app said %q, want no-socket; stderr:\n%s", line, stderr.String())
	}
}
