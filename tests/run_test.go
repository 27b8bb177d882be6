package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/tests/testimg"
)

// Functional tests of saturn run and prepare as stage0: the command line,
// the pod directory it leaves, exit codes and refusals.

// runBase are the flags every run in these tests starts with.
func runBase(e *env, uuidFile string) []string {
	return []string{"run", "--insecure-options=image", "--net=none", "--uuid-file-save=" + uuidFile}
}

// podRun runs a pod to completion and returns the result and its UUID.
func podRun(t *testing.T, e *env, args ...string) (result, string) {
	t.Helper()
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	r := e.saturn(append(runBase(e, uuidFile), args...)...)
	b, _ := os.ReadFile(uuidFile)
	return r, strings.TrimSpace(string(b))
}

// appLines returns what app printed, without stage1's "<app>[<pid>]: ".
func appLines(out, app string) []string {
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

// statusMap parses saturn status's key=value lines.
func statusMap(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// podDirs lists every pod directory of e, as state/uuid.
func podDirs(t *testing.T, e *env) []string {
	t.Helper()
	var out []string
	states, _ := os.ReadDir(filepath.Join(e.Dir, "pods"))
	for _, s := range states {
		pods, _ := os.ReadDir(filepath.Join(e.Dir, "pods", s.Name()))
		for _, p := range pods {
			out = append(out, s.Name()+"/"+p.Name())
		}
	}
	return out
}

func TestRunTwoAppsExitCode(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	// failer waits for busybox's mark in a shared volume, so that the
	// failing exit that ends the pod comes last.
	r, uuid := podRun(t, e, "--volume=shared,kind=empty", "--mount=volume=shared,target=/shared",
		bb, "--exec=/bin/sh", "--", "-c", "echo from-busybox $(hostname); touch /shared/done", "---",
		bb, "--name=failer", "--exec=/bin/sh", "--", "-c", "until [ -e /shared/done ]; do sleep 0.05; done; exit 3")
	if r.Code != 3 {
		t.Fatalf("run exited %d, want the failing app's 3:\n%s", r.Code, r)
	}
	if got := appLines(r.Stdout+r.Stderr, "busybox"); !slices.Equal(got, []string{"from-busybox rkt-" + uuid}) {
		t.Errorf("busybox printed %q", got)
	}
	st := statusMap(e.mustSaturn("status", uuid))
	if st["state"] != "exited" || st["exited"] != "true" || st["app-busybox"] != "0" || st["app-failer"] != "3" {
		t.Errorf("status = %v", st)
	}
	if st["created"] == "" || st["started"] == "" || st["pid"] == "" {
		t.Errorf("status lacks created/started/pid: %v", st)
	}
	if dirs := podDirs(t, e); !slices.Equal(dirs, []string{"run/" + uuid}) {
		t.Errorf("pod dirs = %q, want only run/%s", dirs, uuid)
	}
}

func TestRunAppArgumentsAndEnvironment(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{Modify: nil})
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# defaults\nFROM_FILE=file\nOVER=file\n"), 0o644)
	r, _ := podRun(t, e, "--set-env-file="+envFile, "--set-env=OVER=set", "--set-env=ALL=set",
		ta, "--exec=/testapp", "--environment=OVER=app", "--", "env", "---",
		ta, "--name=args", "--exec=/testapp", "--", "args", "--name=not-a-flag", "two words", "---")
	if r.Code != 0 {
		t.Fatalf("run: %s", r)
	}
	env := appLines(r.Stdout+r.Stderr, "testapp")
	for _, want := range []string{"FROM_FILE=file", "OVER=app", "ALL=set"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s: %q", want, env)
		}
	}
	if got := appLines(r.Stdout+r.Stderr, "args"); !slices.Equal(got, []string{"--name=not-a-flag", "two words"}) {
		t.Errorf("args printed %q", got)
	}
}

func TestRunInheritEnv(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	cmd := e.command(append(runBase(e, uuidFile), "--inherit-env", ta, "--exec=/testapp", "--", "env")...)
	cmd.Env = append(os.Environ(), "SATURN_TEST_INHERITED=yes")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !slices.Contains(appLines(string(out), "testapp"), "SATURN_TEST_INHERITED=yes") {
		t.Errorf("--inherit-env did not pass the variable:\n%s", out)
	}
}

func TestRunNoOverlay(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	r, uuid := podRun(t, e, "--no-overlay", ta, "--exec=/testapp", "--", "write", "/tmp/x", "data")
	if r.Code != 0 {
		t.Fatalf("run: %s", r)
	}
	dir := filepath.Join(e.Dir, "pods/run", uuid)
	if _, err := os.Stat(filepath.Join(dir, "overlay-prepared")); err == nil {
		t.Error("--no-overlay pod is marked as overlay")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stage1/rootfs/opt/stage2/testapp/rootfs/tmp/x")); err != nil || string(b) != "data" {
		t.Errorf("app write not in the copied rootfs: %q, %v", b, err)
	}
	if left := mountsUnder(dir); len(left) > 0 {
		t.Errorf("--no-overlay pod left mounts: %q", left)
	}
}

func TestRunOverlayKeepsStoreClean(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	r, uuid := podRun(t, e, ta, "--exec=/testapp", "--", "write", "/testapp-written", "x")
	if r.Code != 0 {
		t.Fatalf("run: %s", r)
	}
	dir := filepath.Join(e.Dir, "pods/run", uuid)
	trees, _ := filepath.Glob(filepath.Join(e.Dir, "tree", "*", "rootfs", "testapp-written"))
	if len(trees) != 0 {
		t.Errorf("app write reached the store's tree: %q", trees)
	}
	ups, _ := filepath.Glob(filepath.Join(dir, "overlay", "*", "upper", "testapp", "testapp-written"))
	if len(ups) != 1 {
		t.Errorf("app write not in its overlay upper dir")
	}
}

func TestRunPodManifest(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	uuid := strings.TrimSpace(e.mustSaturn("prepare", "--insecure-options=image", ta, "--name=hand", "--exec=/testapp", "--", "args", "from-manifest"))
	manifest := filepath.Join(t.TempDir(), "pod.json")
	if err := os.WriteFile(manifest, []byte(e.mustSaturn("cat-manifest", uuid)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustSaturn("rm", uuid)
	r, _ := podRun(t, e, "--pod-manifest="+manifest)
	if r.Code != 0 || !slices.Equal(appLines(r.Stdout+r.Stderr, "hand"), []string{"from-manifest"}) {
		t.Errorf("run --pod-manifest: %s", r)
	}
	e.failSaturn("conflicting flags set with --pod-manifest", "run", "--insecure-options=image", "--pod-manifest="+manifest, ta)
}

// TestRunBadInputLeavesNothing: every refusal names the problem, exits
// non-zero and leaves no pod directory, mount or UUID file behind.
func TestRunBadInputLeavesNothing(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	bb := testimg.Busybox(t, testimg.Options{})
	missing := filepath.Join(t.TempDir(), "missing.aci")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown image", []string{"example.com/no-such-image"}, `cannot find image "example.com/no-such-image": not found in the store, and discovery failed: `},
		{"missing image file", []string{missing}, "missing.aci"},
		{"duplicate app names", []string{ta, ta}, `two apps are named "testapp"`},
		{"unknown volume kind", []string{"--volume=data,kind=nfs", ta}, "--volume"},
		{"undeclared volume", []string{ta, "--mount=volume=data,target=/data"}, `volume "data", which no --volume declares`},
		{"missing executable", []string{ta, "--exec=/no/such/binary"}, `app "testapp": executable "/no/such/binary" not found in image example.com/testapp`},
		{"relative executable not on PATH", []string{bb, "--exec=no-such-command"}, `app "busybox": executable "no-such-command" not found on PATH`},
		{"relative executable not on the app's PATH", []string{bb, "--exec=sh", "--environment=PATH=/usr/bin"}, `executable "sh" not found on PATH /usr/bin in image example.com/busybox`},
		{"executable path neither absolute nor a name", []string{bb, "--exec=bin/sh"}, `executable "bin/sh" is neither an absolute path nor a name`},
		{"missing pre-start handler", []string{testimg.Busybox(t, testimg.Options{Name: "example.com/handler", Modify: func(m *schema.ImageManifest) {
			m.App.EventHandlers = []types.EventHandler{{Name: "pre-start", Exec: types.Exec{"/bin/no-such-hook"}}}
		}})}, `app "handler": pre-start handler: executable "/bin/no-such-hook" not found in image example.com/handler`},
		{"unknown user", []string{bb, "--user=nobody-here"}, `app "busybox": user "nobody-here" not found in image example.com/busybox`},
		{"unknown group", []string{bb, "--group=nogroup-here"}, `app "busybox": group "nogroup-here" not found in image example.com/busybox`},
		{"volume on the root", []string{"--volume=data,kind=empty", bb, "--mount=volume=data,target=/"}, "a volume cannot replace the app's root"},
		{"empty volume mode", []string{"--volume=data,kind=empty,mode=999", bb, "--mount=volume=data,target=/data"}, `invalid mode "999"`},
		{"empty volume uid", []string{"--volume=data,kind=empty,uid=-1", bb}, "invalid uid -1"},
		{"empty volume gid", []string{"--volume=data,kind=empty,gid=4294967295", bb}, "invalid gid 4294967295"},
		{"networks combined with none", []string{"--net=default,none", ta}, "none cannot be combined with other networks"},
		{"interactive with two apps", []string{"--interactive", ta, bb}, "--interactive supports only one image"},
		{"per-app flag before image", []string{"--exec=/testapp", ta}, "--exec must follow an image"},
		{"bad memory", []string{ta, "--memory=16m"}, "too low"},
		{"no image", nil, "at least one image"},
		{"port without contained network", []string{"--port=http:8080", ta}, "--port does not work with --net=none"},
		{"private users", []string{"--private-users", ta}, "--private-users is not supported"},
		{"missing pod manifest", []string{"--pod-manifest=" + missing}, "read pod manifest"},
		{"missing host volume source", []string{"--volume=data,kind=host,source=" + missing, ta, "--mount=volume=data,target=/d"}, "host source"},
		{"unsigned image", []string{"--insecure-options=none", ta}, "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uuidFile := filepath.Join(t.TempDir(), "uuid")
			args := append([]string{"run", "--insecure-options=image", "--net=none", "--uuid-file-save=" + uuidFile}, tt.args...)
			r := e.failSaturn(tt.want, args...)
			if n := strings.Count(strings.TrimSpace(r.Stderr), "\n"); n > 2 {
				t.Errorf("error is %d lines, want a short one:\n%s", n+1, r.Stderr)
			}
			if n := strings.Count(r.Stderr, "failed"); n > 1 {
				t.Errorf("discovery failure told %d times:\n%s", n, r.Stderr)
			}
			if strings.Contains(r.Stderr, e.Dir) || strings.Contains(r.Stderr, "sha512-") {
				t.Errorf("error names a path in saturn's data directory or an image id:\n%s", r.Stderr)
			}
			if dirs := podDirs(t, e); len(dirs) != 0 {
				t.Errorf("pod dirs left: %q", dirs)
			}
			if left := mountsUnder(e.Dir); len(left) != 0 {
				t.Errorf("mounts left: %q", left)
			}
			if _, err := os.Stat(uuidFile); err == nil {
				t.Error("UUID file of a refused pod left behind")
			}
		})
	}
}

// TestRunKilledIsCollected: saturn run is the pod; killed with SIGKILL
// it leaves an exited pod whose mounts and directory gc removes.
func TestRunKilledIsCollected(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	cmd := e.command(append(runBase(e, uuidFile), ta, "--exec=/testapp", "--", "sleep", "600")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	uuid := waitUUIDFile(t, uuidFile)
	e.mustSaturn("status", "--wait-ready=1m", uuid)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	r := e.saturn("status", "--wait=1m", uuid)
	if st := statusMap(r.Stdout); r.Code != 0 || st["state"] != "exited" {
		t.Fatalf("status after SIGKILL: %s", r)
	}
	out := e.mustSaturn("gc", "--grace-period=0s")
	if !strings.Contains(out, `Garbage collecting pod "`+uuid+`"`) {
		t.Errorf("gc output:\n%s", out)
	}
	if dirs := podDirs(t, e); len(dirs) != 0 {
		t.Errorf("pod dirs after gc: %q", dirs)
	}
	if left := mountsUnder(e.Dir); len(left) != 0 {
		t.Errorf("mounts after gc: %q", left)
	}
}

// waitUUIDFile waits for --uuid-file-save to appear (it is written before
// the pod is laid out).
func waitUUIDFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) == 36 {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no UUID in %s after a minute", path)
	return ""
}

// startPod starts saturn run in the background with the test app waiting
// for a signal; the pod is force-stopped at cleanup if still running.
func startPod(t *testing.T, e *env, args ...string) (*exec.Cmd, string) {
	t.Helper()
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	cmd := e.command(append(runBase(e, uuidFile), args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	uuid := waitUUIDFile(t, uuidFile)
	e.mustSaturn("status", "--wait-ready=1m", uuid)
	return cmd, uuid
}

func TestRunInteractiveAndHostname(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	cmd := e.command(append(runBase(e, uuidFile), "--interactive", "--hostname=box", bb, "--exec=/bin/sh")...)
	cmd.Stdin = strings.NewReader("echo typed-$(hostname) term-$TERM\nexit 6\n")
	cmd.Env = append(os.Environ(), "TERM=saturn-test-term")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 6 || !strings.Contains(string(out), "typed-box term-saturn-test-term") {
		t.Errorf("interactive pod: exit %d (%v), want 6 and the typed command's output with the caller's TERM:\n%s", code, err, out)
	}
	// Without a terminal an app gets no TERM, as in rkt.
	r, _ := podRun(t, e, bb, "--exec=/bin/sh", "--", "-c", "echo term-${TERM:-unset}")
	if got := appLines(r.Stdout, "busybox"); r.Code != 0 || !slices.Equal(got, []string{"term-unset"}) {
		t.Errorf("non-interactive app: %q\n%s", got, r)
	}
}

func TestEnterDefaultShell(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	_, uuid := startPod(t, e, bb, "--exec=/bin/sleep", "--", "600", "---", bb, "--name=other", "--exec=/bin/sleep", "--", "600")
	e.failSaturn("several apps (busybox, other): choose one with --app", "enter", uuid)
	cmd := e.command("enter", "--app=busybox", uuid)
	cmd.Stdin = strings.NewReader("echo in-$(hostname)\nexit 3\n")
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(string(out), "in-rkt-"+uuid) {
		t.Errorf("enter without a command: exit %d, want /bin/sh reading stdin:\n%s", code, out)
	}
	e.mustSaturn("stop", "--force", uuid)
	e.mustSaturn("status", "--wait=1m", uuid)
}

func TestPodCommandsNeedRoot(t *testing.T) {
	// The env's directories are private to root, so nobody gets the
	// default configuration and a data directory that must stay untouched.
	dir := filepath.Join(t.TempDir(), "never-created")
	for _, args := range [][]string{{"run", "example.com/x"}, {"prepare", "example.com/x"}, {"run-prepared", "0a"}, {"gc"}, {"rm", "0a"}, {"stop", "0a"}, {"enter", "0a"}} {
		cmd := exec.Command(saturnBin(), append([]string{"--dir=" + dir}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "cannot run as unprivileged user") {
			t.Errorf("saturn %v as nobody: exit %d\n%s", args, cmd.ProcessState.ExitCode(), out)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("unprivileged commands created %s", dir)
	}
}

// scriptStage1 builds a stage1 image whose entrypoints are shell scripts
// (run by the host's /bin/sh, in the pod directory) that record what
// stage0 hands them into $SATURN_TEST_OUT.
func scriptStage1(t *testing.T, version string) string {
	t.Helper()
	scripts := map[string]string{
		"run": `#!/bin/sh
{
	echo "args=$*"
	echo "cwd=$(pwd)"
	echo "lockfd=$RKT_LOCK_FD"
	if flock -n -s . true; then echo "lock=free"; else echo "lock=held"; fi
	echo "apps=$(ls stage1/rootfs/opt/stage2 | tr '\n' ' ')"
	cat stage1/rootfs/etc/resolv.conf 2>/dev/null
} >"$SATURN_TEST_OUT"
exit 42
`,
		"gc": `#!/bin/sh
echo "gc $* in $(pwd)" >>"$SATURN_TEST_OUT.gc"
`,
	}
	dir := testimg.Dir(t, testimg.Options{Name: "example.com/script-stage1", Modify: func(m *schema.ImageManifest) {
		m.App = nil
		m.Annotations.Set("coreos.com/rkt/stage1/run", "/run.sh")
		m.Annotations.Set("coreos.com/rkt/stage1/gc", "/gc.sh")
		m.Annotations.Set("coreos.com/rkt/stage1/interface-version", version)
	}}, testimg.BusyboxDir)
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, "rootfs", name+".sh"), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "stage1.aci")
	if err := testimg.BuildACI(dir, out, aci.NoCompression); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStage0Contract checks stage0's half of docs/stage1-abi.md with a
// stage1 made of shell scripts: arguments per interface version, the pod
// directory as cwd, the lock held on RKT_LOCK_FD, the apps laid out, DNS
// files, the exit code passed through, and gc calling the gc entrypoint.
func TestStage0Contract(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	for _, tt := range []struct{ version, args string }{
		{"1", "--net=host --local-config=%[1]s %[2]s"},
		{"4", "--net=host --local-config=%[1]s --hostname=box --dns-conf-mode=resolv=stage0,hosts=default %[2]s"},
		{"5", "--net=host --local-config=%[1]s --hostname=box --dns-conf-mode=resolv=stage0,hosts=default --system-config=%[3]s %[2]s"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		uuidFile := filepath.Join(t.TempDir(), "uuid")
		cmd := e.command("run", "--insecure-options=image", "--stage1-path="+scriptStage1(t, tt.version), "--net=host",
			"--hostname=box", "--dns=192.0.2.53", "--uuid-file-save="+uuidFile, ta, ta, "--name=second")
		cmd.Env = append(os.Environ(), "SATURN_TEST_OUT="+out)
		b, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 42 {
			t.Fatalf("interface %s: saturn run exited %d, want stage1's 42:\n%s", tt.version, code, b)
		}
		uuid := waitUUIDFile(t, uuidFile)
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		podDir := filepath.Join(e.Dir, "pods", "run", uuid)
		want := []string{
			"args=" + fmt.Sprintf(tt.args, e.LocalConfig, uuid, e.SystemConfig),
			"cwd=" + podDir,
			"lock=held",
			"apps=second testapp ",
		}
		if tt.version == "4" {
			want = append(want, "nameserver 192.0.2.53")
		}
		for _, w := range want {
			if !strings.Contains(string(got), w+"\n") {
				t.Errorf("interface %s: stage1 saw\n%s\nwant a line %q", tt.version, got, w)
			}
		}
		if !strings.Contains(string(got), "lockfd=") || strings.Contains(string(got), "lockfd=\n") {
			t.Errorf("interface %s: no RKT_LOCK_FD:\n%s", tt.version, got)
		}
		gcCmd := e.command("gc", "--grace-period=0s")
		gcCmd.Env = append(os.Environ(), "SATURN_TEST_OUT="+out)
		if b, err := gcCmd.CombinedOutput(); err != nil {
			t.Fatalf("gc: %v\n%s", err, b)
		}
		gc, _ := os.ReadFile(out + ".gc")
		if want := "gc " + uuid + " in " + filepath.Join(e.Dir, "pods", "exited-garbage", uuid) + "\n"; string(gc) != want {
			t.Errorf("gc entrypoint ran as %q, want %q", gc, want)
		}
	}
}

func TestNewerStage1InterfaceRefused(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	e.failSaturn("interface version 6", "run", "--insecure-options=image", "--stage1-path="+scriptStage1(t, "6"), "--net=host", ta)
	if dirs := podDirs(t, e); len(dirs) != 0 {
		t.Errorf("pod dirs left: %q", dirs)
	}
}

func TestRunRelativeDataDir(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	rel, err := filepath.Rel(filepath.Dir(e.Dir), e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := e.command("--dir="+rel, "run", "--insecure-options=image", "--net=none", ta, "--exec=/testapp", "--", "exit", "7")
	cmd.Dir = filepath.Dir(e.Dir)
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 7 {
		t.Errorf("run with --dir=%s: exit %d, want 7:\n%s", rel, code, out)
	}
}

// run's help and flags are rkt's: --quiet belongs to prepare only, and the
// oom isolator override is spelled --oom-score-adjust.
func TestRunHelpFlags(t *testing.T) {
	e := newEnv(t)
	help := e.mustSaturn("run", "--help")
	if strings.Contains(help, "--quiet") {
		t.Errorf("run --help lists --quiet:\n%s", help)
	}
	if !strings.Contains(help, "--oom-score-adjust") || strings.Contains(help, "--oom-score-adj ") {
		t.Errorf("run --help: want --oom-score-adjust only:\n%s", help)
	}
	if help := e.mustSaturn("prepare", "--help"); !strings.Contains(help, "--quiet") {
		t.Errorf("prepare --help lacks --quiet:\n%s", help)
	}
	e.failSaturn("quiet", "run", "--quiet", "--insecure-options=image", testimg.TestApp(t, testimg.Options{}))
	if len(podDirs(t, e)) != 0 {
		t.Errorf("refused run left pods: %q", podDirs(t, e))
	}
}

// An --exec without a slash runs from the app's PATH (or the ACE default
// PATH), found through the image's symlinks, as stage0 checked it.
func TestRunRelativeExec(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	r, _ := podRun(t, e, bb, "--exec=echo", "--", "from-default-path", "---",
		bb, "--name=own-path", "--exec=echo", "--environment=PATH=/nowhere:/bin", "--", "from-own-path")
	if r.Code != 0 || !slices.Equal(appLines(r.Stdout, "busybox"), []string{"from-default-path"}) ||
		!slices.Equal(appLines(r.Stdout, "own-path"), []string{"from-own-path"}) {
		t.Errorf("relative --exec: %s", r)
	}
}
