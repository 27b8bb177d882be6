package main

// These tests run the real stage1-fly binary on pod directories prepared
// by hand as stage0 would (docs/stage1-abi.md), with copied rootfs trees.
// They need root: the binary mounts and chroots.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1-fly/flywatch"
	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/tests/testimg"
)

const testUUID = "6f1f3a4e-1e8a-4f3b-9a53-0c3b6c1a2b7d"

// TestMain lets the test binary double as the stage1-fly binary: the
// pods' entrypoints are symlinks to it named run, enter, gc and stop, and
// the exit watcher re-executes it (package flywatch's init takes that
// over, as in the real binary), so the tests run exactly the code under
// test without a separate build.
func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case "run", "enter", "gc", "stop":
		os.Exit(dispatch(os.Args))
	}
	os.Exit(m.Run())
}

// flyBinary returns the stage1-fly binary: this test binary.
func flyBinary(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("stage1-fly tests must run as root (they mount and chroot)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

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
	appDir := filepath.Join(dir, stage1abi.Stage1Rootfs, "opt/stage2/app")
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
	if err := os.Symlink(bin, filepath.Join(dir, stage1abi.Stage1Rootfs, "run")); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"enter", "gc", "stop"} {
		if err := os.Symlink("run", filepath.Join(dir, stage1abi.Stage1Rootfs, e)); err != nil {
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
	if err := os.WriteFile(filepath.Join(dir, stage1abi.PodManifest), b, 0o644); err != nil {
		t.Fatal(err)
	}
	p := &testPod{t: t, dir: dir}
	t.Cleanup(func() {
		// As stage0 does before deleting a pod that ran: gc waits for
		// the exit watcher, which may still be writing the status.
		if _, err := os.Stat(filepath.Join(dir, stage1abi.PidFile)); err == nil {
			if out, err := p.entry("gc", testUUID).CombinedOutput(); err != nil {
				t.Errorf("gc: %v: %s", err, out)
			}
		}
		for _, m := range mountsBelow(mustMounts(t), dir) {
			t.Errorf("mount left on the host: %s", m)
		}
	})
	return p
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
	cmd := exec.Command(filepath.Join(p.dir, stage1abi.Stage1Rootfs, name), args...)
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
func (p *testPod) status(stderr ...*bytes.Buffer) string {
	p.t.Helper()
	path := filepath.Join(p.dir, stage1abi.Stage1Rootfs, "rkt/status/app")
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		time.Sleep(25 * time.Millisecond)
	}
	p.t.Fatalf("no status file %s; stderr: %v", path, stderr)
	return ""
}

func TestRunSupervisesApp(t *testing.T) {
	p := newTestPod(t, []string{"/bin/sh", "-c", `echo ppid=$PPID; cat /proc/1/comm; echo hi >/tmp/x; cat /tmp/x; grep -q localhost /etc/hosts && echo hosts; exit 7`}, nil)
	out, errOut, code, pid := p.run("--net=host", "--debug")
	if code != 7 {
		t.Fatalf("exit code %d, want 7\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	// The app is run's child, in the host pid namespace.
	if !strings.Contains(out, "ppid="+strconv.Itoa(pid)+"\n") {
		t.Errorf("app is not the child of run (pid %d):\n%s", pid, out)
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
	if !strings.Contains(out, "hosts\n") {
		t.Errorf("app has no /etc/hosts naming localhost:\n%s", out)
	}
	if s := p.status(); s != "7" {
		t.Errorf("rkt/status/app = %q, want 7", s)
	}
	b, err := os.ReadFile(filepath.Join(p.dir, stage1abi.PidFile))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Errorf("pid file = %q (%v), want %d", b, err, pid)
	}
	env, err := os.ReadFile(filepath.Join(p.dir, stage1abi.Stage1Rootfs, "rkt/env/app"))
	if err != nil || !strings.Contains(string(env), "AC_APP_NAME=app\n") {
		t.Errorf("rkt/env/app = %q (%v)", env, err)
	}
}

func boolPtr(b bool) *bool { return &b }

func TestRunVolumes(t *testing.T) {
	rw, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mode := "0700"
	uid, gid := 1000, 1000
	script := `echo written >/rw/out && cat /ro/in && ! touch /ro/nope 2>/dev/null && stat -c '%a %u' /empty && echo ok`
	p := newTestPod(t, []string{"/bin/sh", "-c", script}, func(pm *schema.PodManifest) {
		pm.Volumes = []types.Volume{
			{Name: "rw", Kind: "host", Source: rw},
			{Name: "ro", Kind: "host", Source: ro, ReadOnly: boolPtr(true)},
			{Name: "empty", Kind: "empty", Mode: &mode, UID: &uid, GID: &gid},
		}
		pm.Apps[0].Mounts = []schema.Mount{{Volume: "rw", Path: "/rw"}, {Volume: "ro", Path: "/ro"}, {Volume: "empty", Path: "/empty"}}
	})
	out, errOut, code, _ := p.run()
	if code != 0 || !strings.Contains(out, "from host\n700 1000\nok\n") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	b, err := os.ReadFile(filepath.Join(rw, "out"))
	if err != nil || string(b) != "written\n" {
		t.Errorf("write through the volume: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "nope")); err == nil {
		t.Error("read-only volume was written")
	}
}

// TestRunFileVolume binds a host file onto a path the image lacks: the
// mount point must be created as a file, and writes must reach the host.
func TestRunFileVolume(t *testing.T) {
	src := filepath.Join(t.TempDir(), "conf")
	if err := os.WriteFile(src, []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newTestPod(t, []string{"/bin/sh", "-c", "cat /etc/app/conf && echo more >>/etc/app/conf"}, func(pm *schema.PodManifest) {
		pm.Volumes = []types.Volume{{Name: "conf", Kind: "host", Source: src}}
		pm.Apps[0].Mounts = []schema.Mount{{Volume: "conf", Path: "/etc/app/conf"}}
	})
	out, errOut, code, _ := p.run()
	if code != 0 || out != "from host\n" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	b, err := os.ReadFile(src)
	if err != nil || string(b) != "from host\nmore\n" {
		t.Errorf("write through the file volume: %q, %v", b, err)
	}
}

// TestRunSharedVolume checks rkt fly's propagation: a mount the app makes
// below a volume whose source is a host mount point appears on the host.
func TestRunSharedVolume(t *testing.T) {
	src := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "flytest", src).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-R", src).Run() })
	p := newTestPod(t, []string{"/bin/sh", "-c", "mkdir /vol/sub && mount -t tmpfs inner /vol/sub && echo seen >/vol/sub/f"}, func(pm *schema.PodManifest) {
		pm.Volumes = []types.Volume{{Name: "vol", Kind: "host", Source: src}}
		pm.Apps[0].Mounts = []schema.Mount{{Volume: "vol", Path: "/vol"}}
	})
	out, errOut, code, _ := p.run()
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !mustMounts(t)[filepath.Join(src, "sub")] {
		t.Errorf("the app's mount below the shared volume did not reach the host")
	}
}

// startPod starts the run entrypoint of an app that prints "ready" and
// then waits; it returns the command and the rest of its stdout.
func startPod(t *testing.T, p *testPod) (*exec.Cmd, *bufio.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := p.entry("run", "--debug", testUUID)
	errOut := &bytes.Buffer{}
	cmd.Stderr = errOut
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The pod holds its directory's lock, as stage0 hands it over on
	// RKT_LOCK_FD: stop signals only what holds it. This process lets go
	// of its copy once the pod has it.
	lock, err := os.Open(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{lock}
	cmd.Env = append(cmd.Environ(), "RKT_LOCK_FD=3")
	err = cmd.Start()
	lock.Close()
	if err != nil {
		t.Fatal(err)
	}
	stdout := bufio.NewReader(pipe)
	line, _ := stdout.ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("app said %q; stderr: %s", line, errOut)
	}
	return cmd, stdout, errOut
}

const waitingApp = `trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.1; done`

func TestRunSignal(t *testing.T) {
	p := newTestPod(t, []string{"/bin/sh", "-c", waitingApp}, nil)
	cmd, stdout, errOut := startPod(t, p)
	if err := cmd.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(string(rest), "got TERM") {
		t.Fatalf("exit %d, output %q, stderr %s", code, rest, errOut)
	}
	if s := p.status(errOut); s != "3" {
		t.Errorf("status %q, want 3", s)
	}
}

func TestStopEnterGC(t *testing.T) {
	p := newTestPod(t, []string{"/bin/sh", "-c", waitingApp}, func(pm *schema.PodManifest) {
		pm.Apps[0].App.Environment.Set("FLAVOR", "fly")
	})
	cmd, _, errOut := startPod(t, p)
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pid := strconv.Itoa(cmd.Process.Pid)

	// enter runs in the app's rootfs and mounts, with its environment.
	enter := p.entry("enter", "--pid="+pid, "--appname=app", "--", "/bin/sh", "-c", `echo $FLAVOR; ls /proc/`+pid+`/ >/dev/null && echo proc; grep -c " /tmp " /proc/self/mounts`)
	out, err := enter.CombinedOutput()
	if err != nil || string(out) != "fly\nproc\n1\n" {
		t.Errorf("enter: %v, output %q", err, out)
	}
	enter = p.entry("enter", "--pid="+pid, "--appname=app", "--", "/bin/sh", "-c", "exit 5")
	if err := enter.Run(); enter.ProcessState.ExitCode() != 5 {
		t.Errorf("enter exit code %d (%v), want 5", enter.ProcessState.ExitCode(), err)
	}
	if out, err := p.entry("enter", "--pid="+pid, "--appname=other", "--", "/bin/true").CombinedOutput(); err == nil || !strings.Contains(string(out), `no app "other"`) {
		t.Errorf("enter of a missing app: %v, %s", err, out)
	}

	if out, err := p.entry("stop", "--force", testUUID).CombinedOutput(); err != nil {
		t.Fatalf("stop --force: %v: %s", err, out)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != -1 {
		t.Errorf("after stop --force exit code %d, want death by SIGKILL; stderr %s", code, errOut)
	}
	// run died at once, and the app with it (as stage1-nspawn's PID 1
	// and its apps): no one recorded a status.
	if _, err := os.Stat(filepath.Join(p.dir, stage1abi.Stage1Rootfs, "rkt/status/app")); err == nil {
		t.Error("status recorded after stop --force")
	}
	if out, err := p.entry("gc", testUUID).CombinedOutput(); err != nil {
		t.Errorf("gc: %v: %s", err, out)
	}
}

func TestStopGraceful(t *testing.T) {
	p := newTestPod(t, []string{"/bin/sh", "-c", waitingApp}, nil)
	cmd, _, _ := startPod(t, p)
	if out, err := p.entry("stop", testUUID).CombinedOutput(); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("stop: %v: %s", err, out)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit code %d after stop, want 3 (the app's TERM trap)", code)
	}
}

func TestRunRefuses(t *testing.T) {
	mem, err := types.NewResourceMemoryIsolator("64M", "64M")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		edit func(*schema.PodManifest)
		want string
	}{
		{"two apps", nil, func(pm *schema.PodManifest) {
			second := pm.Apps[0]
			second.Name = "second"
			pm.Apps = append(pm.Apps, second)
		}, "exactly one app per pod; this pod has 2"},
		{"memory isolator", nil, func(pm *schema.PodManifest) {
			pm.Apps[0].App.Isolators = types.Isolators{mem.AsIsolator()}
		}, "cannot apply isolator resource/memory"},
		{"net none", []string{"--net=none"}, nil, "--net=none cannot be honoured"},
		{"hostname", []string{"--hostname=mypod"}, nil, "--hostname cannot be honoured"},
		{"bad uuid", []string{"not-a-uuid"}, nil, "bad pod UUID"},
		{"missing executable", nil, func(pm *schema.PodManifest) {
			pm.Apps[0].App.Exec = []string{"/no/such/binary"}
		}, `"/no/such/binary" not found`},
		{"undeclared volume", nil, func(pm *schema.PodManifest) {
			pm.Apps[0].Mounts = []schema.Mount{{Volume: "nope", Path: "/x"}}
		}, `undeclared volume "nope"`},
		{"unknown user", nil, func(pm *schema.PodManifest) {
			pm.Apps[0].App.User = "nosuchuser"
		}, "nosuchuser"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPod(t, []string{"/bin/true"}, tc.edit)
			args := tc.args
			cmd := p.entry("run", append(args, testUUID)...)
			if tc.name == "bad uuid" {
				cmd = p.entry("run", args...)
			}
			out, err := cmd.CombinedOutput()
			if err == nil || cmd.ProcessState.ExitCode() != exitFailure {
				t.Fatalf("run succeeded or exit code %d, want %d: %s", cmd.ProcessState.ExitCode(), exitFailure, out)
			}
			if !strings.Contains(string(out), tc.want) || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
				t.Errorf("error %q, want one line mentioning %q", out, tc.want)
			}
			if _, err := os.Stat(filepath.Join(p.dir, stage1abi.PidFile)); err == nil {
				t.Error("a refused pod wrote a pid file")
			}
		})
	}
}

// TestRunRefusedNoStatus: a pod run refuses has no app whose status it
// could record, so it must end without writing one, and it leaves no
// exit watcher (only an app exec'ed in run's place has one).
func TestRunRefusedNoStatus(t *testing.T) {
	p := newTestPod(t, []string{"/no/such/binary"}, nil)
	out, err := p.entry("run", testUUID).CombinedOutput()
	if err == nil {
		t.Fatalf("run of a missing executable succeeded: %s", out)
	}
	rkt := filepath.Join(p.dir, stage1abi.Stage1Rootfs, "rkt")
	if _, err := os.Stat(filepath.Join(rkt, flywatch.PidFile)); err == nil {
		t.Error("a watcher was started")
	}
	if _, err := os.Stat(filepath.Join(rkt, "status/app")); err == nil {
		t.Error("a refused pod has an exit status")
	}
}

// TestRunSetupFailureStatus: once run has accepted the pod, a failure to
// set it up is the app's exit as far as the pod goes: run records
// stage1's exit code as the app's status.
func TestRunSetupFailureStatus(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	p := newTestPod(t, []string{"/bin/true"}, func(pm *schema.PodManifest) {
		pm.Volumes = []types.Volume{{Name: "v", Kind: "host", Source: missing}}
		pm.Apps[0].Mounts = []schema.Mount{{Volume: "v", Path: "/v"}}
	})
	_, errOut, code, _ := p.run()
	if code != exitFailure || !strings.Contains(errOut, "gone") {
		t.Fatalf("exit %d, want %d; stderr: %s", code, exitFailure, errOut)
	}
	if s := p.status(); s != strconv.Itoa(exitFailure) {
		t.Errorf("status %q, want %d", s, exitFailure)
	}
}

// TestRunNotAPod: run started in a directory that holds no pod must fail
// without creating anything there, the exit watcher's files included.
func TestRunNotAPod(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	if err := os.Symlink(flyBinary(t), run); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(run, testUUID)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != exitFailure {
		t.Fatalf("run outside a pod: %v: %s", err, out)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("run left %v in a directory without a pod (%v)", ents, err)
	}
}

func TestRunDNSHost(t *testing.T) {
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	p := newTestPod(t, []string{"/bin/cat", "/etc/hosts"}, nil)
	out, errOut, code, _ := p.run("--dns-conf-mode=resolv=default,hosts=host")
	if code != 0 || out != string(hosts) {
		t.Fatalf("exit %d, app's /etc/hosts %q, host's %q; stderr %s", code, out, hosts, errOut)
	}
}

// TestRunKeepsPodLock checks that the pod lock stage0 passes in
// RKT_LOCK_FD stays held while the app runs (the pod is running) and is
// released as soon as the app is gone (the pod has exited): the exit
// watcher must not hold it.
// TestStopLeftovers: an app that exits leaving a background child behind
// leaves the pod locked, so running; stop must reach that child (rkt
// #3295), and only it: another open of the pod directory is spared.
func TestStopLeftovers(t *testing.T) {
	p := newTestPod(t, []string{"/bin/sh", "-c", "sleep 1000 & echo $!"}, nil)
	lock, err := os.Open(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	bystander := exec.Command("sleep", "1000")
	bystander.ExtraFiles = []*os.File{mustOpen(t, p.dir)}
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		bystander.Process.Kill()
		bystander.Wait()
	})
	cmd := p.entry("run", testUUID)
	cmd.ExtraFiles = []*os.File{lock}
	cmd.Env = append(os.Environ(), "RKT_LOCK_FD=3")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	cmd.Wait()
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("app said %q", line)
	}
	t.Cleanup(func() { unix.Kill(child, unix.SIGKILL) })
	probe := mustOpen(t, p.dir)
	if err := unix.Flock(int(probe.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		t.Fatal("the pod lock is free although the app's child holds it")
	}
	if out, err := p.entry("stop", testUUID).CombinedOutput(); err != nil {
		t.Fatalf("stop: %v: %s", err, out)
	}
	locked := true
	for i := 0; i < 200 && locked; i++ {
		locked = unix.Flock(int(probe.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil
		time.Sleep(10 * time.Millisecond)
	}
	if locked {
		t.Error("the app's child still holds the pod lock after stop")
	}
	if err := unix.Kill(bystander.Process.Pid, 0); err != nil {
		t.Errorf("stop signalled a process that only had the pod directory open: %v", err)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestRunKeepsPodLock(t *testing.T) {
	p := newTestPod(t, []string{"/bin/sh", "-c", "echo ready; read line; exit 4"}, nil)
	lock, err := os.Open(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	cmd := p.entry("run", testUUID)
	cmd.ExtraFiles = []*os.File{lock}
	cmd.Env = append(os.Environ(), "RKT_LOCK_FD=3")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("app said %q", line)
	}
	probe, err := os.Open(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if err := unix.Flock(int(probe.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		t.Error("the pod lock is free while the app runs")
		unix.Flock(int(probe.Fd()), unix.LOCK_UN)
	}
	stdin.Close()
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 4 {
		t.Errorf("exit code %d, want 4", code)
	}
	if err := unix.Flock(int(probe.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Errorf("the pod lock is still held after the app exited: %v", err)
	}
	if s := p.status(); s != "4" {
		t.Errorf("status %q, want 4", s)
	}
}

func TestRunReadOnlyRootfs(t *testing.T) {
	p := newTestPod(t, []string{"/bin/sh", "-c", `touch /etc/x 2>/dev/null && echo rootfs-writable; echo ok >/tmp/y && cat /tmp/y`}, func(pm *schema.PodManifest) {
		pm.Apps[0].ReadOnlyRootFS = true
	})
	out, errOut, code, _ := p.run()
	if code != 0 || out != "ok\n" {
		t.Fatalf("exit %d, output %q (want a read-only rootfs with a writable /tmp); stderr %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(p.dir, stage1abi.Stage1Rootfs, "opt/stage2/app/rootfs/etc/x")); err == nil {
		t.Error("the app wrote into its read-only rootfs")
	}
}

func TestRunIdentity(t *testing.T) {
	p := newTestPod(t, []string{"/bin/sh", "-c", `echo $(id -u) $(id -g) $(id -G) $(pwd) $GREETING`}, func(pm *schema.PodManifest) {
		app := pm.Apps[0].App
		app.User, app.Group = "tester", "testers"
		app.SupplementaryGIDs = []int{1001}
		app.WorkingDirectory = "/tmp"
		app.Environment.Set("GREETING", "hello")
	})
	out, errOut, code, _ := p.run()
	if code != 0 || out != "1000 1000 1000 1001 /tmp hello\n" {
		t.Fatalf("exit %d, output %q; stderr %s", code, out, errOut)
	}
}

// TestRunRecursiveVolume checks recursive volumes: the submounts of the
// source come along, and read-only reaches them too.
func TestRunRecursiveVolume(t *testing.T) {
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "flysub", sub).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", sub).Run() })
	if err := os.WriteFile(filepath.Join(sub, "f"), []byte("in submount\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `cat /rec/sub/f; touch /rec/sub/x 2>/dev/null && echo sub-writable; touch /rec/x 2>/dev/null && echo top-writable; test -e /flat/sub/f && echo flat-has-submount; echo done`
	p := newTestPod(t, []string{"/bin/sh", "-c", script}, func(pm *schema.PodManifest) {
		pm.Volumes = []types.Volume{
			{Name: "rec", Kind: "host", Source: src, ReadOnly: boolPtr(true), Recursive: boolPtr(true)},
			{Name: "flat", Kind: "host", Source: src},
		}
		pm.Apps[0].Mounts = []schema.Mount{{Volume: "rec", Path: "/rec"}, {Volume: "flat", Path: "/flat"}}
	})
	out, errOut, code, _ := p.run()
	if code != 0 || out != "in submount\ndone\n" {
		t.Fatalf("exit %d, output %q; stderr %s", code, out, errOut)
	}
}

func TestRunOOMScoreAdj(t *testing.T) {
	adj, err := types.NewLinuxOOMScoreAdj(345)
	if err != nil {
		t.Fatal(err)
	}
	p := newTestPod(t, []string{"/bin/cat", "/proc/self/oom_score_adj"}, func(pm *schema.PodManifest) {
		pm.Apps[0].App.Isolators = types.Isolators{adj.AsIsolator()}
	})
	out, errOut, code, _ := p.run()
	if code != 0 || out != "345\n" {
		t.Fatalf("exit %d, oom_score_adj %q, want 345; stderr %s", code, out, errOut)
	}
}

func TestRunCapabilities(t *testing.T) {
	retain, err := types.NewLinuxCapabilitiesRetainSet("CAP_NET_ADMIN")
	if err != nil {
		t.Fatal(err)
	}
	iso, err := retain.AsIsolator()
	if err != nil {
		t.Fatal(err)
	}
	script := `grep -E '^Cap(Bnd|Amb)' /proc/self/status`
	// Without capability isolators fly keeps every capability, as rkt fly.
	p := newTestPod(t, []string{"/bin/sh", "-c", script}, nil)
	out, errOut, code, _ := p.run()
	if code != 0 || strings.Contains(out, "CapBnd:\t0000000000001000") {
		t.Fatalf("exit %d, %q; stderr %s", code, out, errOut)
	}
	p = newTestPod(t, []string{"/bin/sh", "-c", script}, func(pm *schema.PodManifest) {
		pm.Apps[0].App.User = "tester"
		pm.Apps[0].App.Isolators = types.Isolators{*iso}
	})
	out, errOut, code, _ = p.run()
	if code != 0 || out != "CapBnd:\t0000000000001000\nCapAmb:\t0000000000001000\n" {
		t.Fatalf("exit %d, %q; want only CAP_NET_ADMIN bounding and ambient; stderr %s", code, out, errOut)
	}
}
