package pod

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
)

func TestUUID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		u, err := NewUUID()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidUUID(u) || u[14] != '4' || !strings.ContainsRune("89ab", rune(u[19])) {
			t.Fatalf("%s is not a version 4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("%s generated twice", u)
		}
		seen[u] = true
	}
	for _, bad := range []string{"", "x", "6ba7b810-9dad-11d1-80b4-00c04fd430c", "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "6ba7b810_9dad-11d1-80b4-00c04fd430c8"} {
		if ValidUUID(bad) {
			t.Errorf("ValidUUID(%q) = true", bad)
		}
	}
	for s, want := range map[string]bool{"6ba7": true, "6ba7b810-9d": true, "6ba7b8109": false, "../x": false, "": false} {
		if got := validPrefix(s); got != want {
			t.Errorf("validPrefix(%q) = %t, want %t", s, got, want)
		}
	}
}

// otherLock holds an exclusive lock on dir from another open file, as a
// running stage1 would.
func otherLock(t *testing.T, dir string) func() {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

func TestLifecycle(t *testing.T) {
	data := t.TempDir()
	p, err := Create(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.State() != StatePreparing || !strings.Contains(p.Path(), "/pods/prepare/") {
		t.Fatalf("new pod: state %s at %s", p.State(), p.Path())
	}
	// Another process sees it preparing while we hold the lock.
	q, err := Load(data, p.UUID[:6])
	if err != nil {
		t.Fatal(err)
	}
	if q.State() != StatePreparing {
		t.Errorf("other view: %s, want preparing", q.State())
	}
	if err := p.ToPrepared(); err != nil {
		t.Fatal(err)
	}
	q, err = Load(data, p.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if q.State() != StatePrepared {
		t.Fatalf("state %s, want prepared", q.State())
	}
	if err := q.LockForRun(); err != nil {
		t.Fatal(err)
	}
	r, _ := Load(data, p.UUID)
	if r.State() != StateRunning {
		t.Errorf("while locked in run/: %s, want running", r.State())
	}
	if err := r.LockForRun(); err == nil {
		t.Error("a second run-prepared of the same pod succeeded")
	}
	fd, err := q.LockFd()
	if err != nil || fd < 0 {
		t.Fatalf("lock fd %d, %v", fd, err)
	}
	q.Close()
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	if r.State() != StateExited || !r.Exited() || !r.AfterRun() {
		t.Errorf("after the lock is gone: %s, want exited", r.State())
	}
}

func TestAbortedPrepare(t *testing.T) {
	data := t.TempDir()
	p, err := Create(data)
	if err != nil {
		t.Fatal(err)
	}
	p.Close() // a killed prepare
	q, err := Load(data, p.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if q.State() != StateAbortedPrepare {
		t.Errorf("state %s, want aborted prepare", q.State())
	}
}

func TestLoadErrors(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, "pods", "prepared")
	for _, u := range []string{"11111111-1111-4111-8111-111111111111", "11111111-2222-4111-8111-111111111111"} {
		if err := os.MkdirAll(filepath.Join(dir, u), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[string]string{
		"1111":        "ambiguous",
		"2222":        "no pod found",
		"../../etc":   "invalid UUID",
		"11111111-1x": "invalid UUID",
	}
	for arg, want := range tests {
		if _, err := Load(data, arg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q): %v, want %q", arg, err, want)
		}
	}
	p, err := Load(data, "11111111-2")
	if err != nil || p.UUID != "11111111-2222-4111-8111-111111111111" {
		t.Errorf("unique prefix: %v, %v", p, err)
	}
}

func TestUUIDFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "uuid")
	u, _ := NewUUID()
	if err := WriteUUIDFile(path, u); err != nil {
		t.Fatal(err)
	}
	got, err := ReadUUIDFile(path)
	if err != nil || got != u {
		t.Fatalf("read %q, %v; want %q", got, err, u)
	}
	os.WriteFile(path, []byte("garbage\n"), 0o644)
	if _, err := ReadUUIDFile(path); err == nil {
		t.Error("garbage UUID file accepted")
	}
}

// makePod lays out a pod directory by hand in phase with a stage1
// manifest and a pod manifest of one app.
func makePod(t *testing.T, data, phase string) *Pod {
	t.Helper()
	u, _ := NewUUID()
	p := &Pod{UUID: u, podsDir: PodsDir(data), phase: phase}
	for _, d := range phaseDirs {
		os.MkdirAll(filepath.Join(p.podsDir, d), 0o755)
	}
	if err := os.MkdirAll(filepath.Join(p.Path(), "stage1/rootfs/rkt/status"), 0o755); err != nil {
		t.Fatal(err)
	}
	s1 := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/stage1",
		"annotations":[{"name":"coreos.com/rkt/stage1/run","value":"/run"},{"name":"coreos.com/rkt/stage1/gc","value":"/gc"}]}`
	pm := `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"app","image":{"id":"` + fakeID(1) + `"}}]}`
	for name, content := range map[string]string{"stage1/manifest": s1, "pod": pm, "pod-created": ""} {
		if err := os.WriteFile(filepath.Join(p.Path(), name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestStatusFiles(t *testing.T) {
	data := t.TempDir()
	p := makePod(t, data, dirRun)
	_, err := p.Pid()
	if err == nil {
		t.Error("pid before stage1 wrote one")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := p.WaitPid(ctx); err == nil {
		t.Error("WaitPid returned without a pid file")
	}
	os.WriteFile(filepath.Join(p.Path(), "pid"), []byte("1234\n"), 0o644)
	if pid, err := p.Pid(); err != nil || pid != 1234 {
		t.Errorf("pid %d, %v", pid, err)
	}
	if p.StartTime().IsZero() {
		t.Error("no start time with a pid file")
	}
	os.WriteFile(filepath.Join(p.Path(), "pid"), []byte("x"), 0o644)
	if _, err := p.Pid(); err == nil {
		t.Error("bad pid file accepted")
	}
	os.Remove(filepath.Join(p.Path(), "pid"))
	// ppid: the pod's pid is the only child of the named process.
	sh := exec.Command("/bin/sh", "-c", "sleep 10 & wait")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { unix.Kill(-sh.Process.Pid, unix.SIGKILL); sh.Process.Kill(); sh.Wait() }()
	os.WriteFile(filepath.Join(p.Path(), "ppid"), []byte(strconv.Itoa(sh.Process.Pid)), 0o644)
	var pid int
	var comm []byte
	for i := 0; i < 200; i++ { // until sh has forked and the child exec'd sleep
		if pid, err = p.Pid(); err == nil {
			if comm, _ = os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "sleep" {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.TrimSpace(string(comm)) != "sleep" || pid == sh.Process.Pid {
		t.Errorf("pid from ppid = %d (%s, %v), want the sleep child", pid, comm, err)
	}
	os.Remove(filepath.Join(p.Path(), "ppid"))
	os.WriteFile(filepath.Join(p.Path(), "stage1/rootfs/rkt/status/app"), []byte("3\n"), 0o644)
	if code, err := p.AppExitCode("app"); err != nil || code != 3 {
		t.Errorf("exit code %d, %v", code, err)
	}
	if _, err := p.AppExitCode("other"); err == nil {
		t.Error("exit code of an app that has none")
	}
	if p.Ready() {
		t.Error("ready without supervisor-status")
	}
	os.WriteFile(filepath.Join(p.Path(), "stage1/rootfs/rkt/supervisor-status"), []byte("ready"), 0o644)
	if !p.Ready() {
		t.Error("not ready with supervisor-status ready")
	}
	if p.CreationTime().IsZero() {
		t.Error("no creation time with pod-created")
	}
	gc, ok, err := p.Entrypoint(stage1abi.EntrypointGC)
	if err != nil || !ok || gc != filepath.Join(p.Path(), "stage1/rootfs/gc") {
		t.Errorf("gc entrypoint %q %t %v", gc, ok, err)
	}
	if _, ok, _ := p.Entrypoint(stage1abi.EntrypointStop); ok {
		t.Error("stop entrypoint found in a manifest without one")
	}
	if v, err := p.InterfaceVersion(); err != nil || v != 1 {
		t.Errorf("interface version %d, %v; want 1 when absent", v, err)
	}
}

func TestInterfaceVersionOf(t *testing.T) {
	tests := []struct {
		v       string
		present bool
		want    int
		err     string
	}{
		{"", false, 1, ""},
		{"1", true, 1, ""},
		{"4", true, 4, ""},
		{"6", true, 0, "interface version 6"},
		{"0", true, 0, "invalid"},
		{"x", true, 0, "invalid"},
	}
	for _, tt := range tests {
		got, err := InterfaceVersionOf(tt.v, tt.present)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: %v, want error %q", tt.v, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %d, %v; want %d", tt.v, got, err, tt.want)
		}
	}
}

func TestWaitFinished(t *testing.T) {
	data := t.TempDir()
	p := makePod(t, data, dirRun)
	release := otherLock(t, p.Path())
	q, _ := Load(data, p.UUID)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	err := q.WaitFinished(ctx)
	cancel()
	if err == nil {
		t.Fatal("WaitFinished returned while the pod runs")
	}
	ctx, cancel = context.WithTimeout(context.Background(), 150*time.Millisecond)
	err = q.WaitReady(ctx)
	cancel()
	if err == nil {
		t.Fatal("WaitReady returned before supervisor-status")
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		release()
	}()
	if err := q.WaitFinished(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q.State() != StateExited {
		t.Errorf("state %s", q.State())
	}
	if err := q.WaitReady(context.Background()); err == nil {
		t.Error("WaitReady on an exited pod succeeded")
	}
}

func TestGC(t *testing.T) {
	data := t.TempDir()
	exited := makePod(t, data, dirRun)
	running := makePod(t, data, dirRun)
	defer otherLock(t, running.Path())()
	aborted := makePod(t, data, dirPrepare)
	prepared := makePod(t, data, dirPrepared)
	oldEmbryo := makePod(t, data, dirEmbryo)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(oldEmbryo.Path(), old, old)
	newEmbryo := makePod(t, data, dirEmbryo)

	var out, errOut bytes.Buffer
	c := &Cleaner{Stdout: &out, Stderr: &errOut}
	if err := c.GC(data, GCOptions{GracePeriod: time.Hour, ExpirePrepared: time.Hour}); err != nil {
		t.Fatal(err)
	}
	wantPhase := func(p *Pod, want string) {
		t.Helper()
		if err := p.Refresh(); err != nil {
			if want != "" {
				t.Errorf("pod %s gone, want it in %s", p.UUID, want)
			}
			return
		}
		if want == "" {
			t.Errorf("pod %s still in %s, want it deleted", p.UUID, p.phase)
		} else if p.phase != want {
			t.Errorf("pod %s in %s, want %s", p.UUID, p.phase, want)
		}
	}
	wantPhase(exited, dirExitedGarbage) // inside the grace period
	wantPhase(running, dirRun)
	wantPhase(aborted, "")
	wantPhase(prepared, dirPrepared)
	wantPhase(oldEmbryo, "")
	wantPhase(newEmbryo, dirEmbryo)
	// As rkt's gc: what moves and what stays is told on stderr; stdout
	// names only the pods deleted.
	for _, want := range []string{
		"moving pod \"" + exited.UUID + "\" to garbage\n",
		"pod \"" + exited.UUID + "\" not removed: still within grace period (1h0m0s)\n",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("gc stderr lacks %q:\n%s", want, errOut.String())
		}
	}
	if out.String() != "Garbage collecting pod \""+aborted.UUID+"\"\n"+"Garbage collecting pod \""+oldEmbryo.UUID+"\"\n" &&
		out.String() != "Garbage collecting pod \""+oldEmbryo.UUID+"\"\n"+"Garbage collecting pod \""+aborted.UUID+"\"\n" {
		t.Errorf("gc stdout:\n%s", out.String())
	}

	// A zero grace period and expiry sweep the rest but the running pod.
	if err := c.GC(data, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	wantPhase(exited, "")
	wantPhase(prepared, "")
	wantPhase(running, dirRun)
	if !strings.Contains(out.String(), "Garbage collecting pod \""+exited.UUID+"\"") {
		t.Errorf("gc output:\n%s", out.String())
	}
}

func TestGCMarkOnly(t *testing.T) {
	data := t.TempDir()
	exited := makePod(t, data, dirRun)
	prepared := makePod(t, data, dirPrepared)
	oldEmbryo := makePod(t, data, dirEmbryo)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(oldEmbryo.Path(), old, old)
	c := &Cleaner{}
	if err := c.GC(data, GCOptions{MarkOnly: true}); err != nil {
		t.Fatal(err)
	}
	if err := exited.Refresh(); err != nil || exited.phase != dirExitedGarbage {
		t.Errorf("after --mark-only: %v, phase %s", err, exited.phase)
	}
	// As rkt's: no expiry of prepared pods (ExpirePrepared is zero here)
	// nor of embryos, which have not ended.
	for _, p := range []*Pod{prepared, oldEmbryo} {
		want := p.phase
		if err := p.Refresh(); err != nil || p.phase != want {
			t.Errorf("after --mark-only: %v, phase %s, want %s", err, p.phase, want)
		}
	}
}

func TestRemove(t *testing.T) {
	data := t.TempDir()
	c := &Cleaner{}
	running := makePod(t, data, dirRun)
	release := otherLock(t, running.Path())
	if err := c.Remove(running); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("remove running pod: %v", err)
	}
	release()
	for _, phase := range []string{dirRun, dirPrepared, dirPrepare, dirExitedGarbage, dirGarbage} {
		p := makePod(t, data, phase)
		if phase == dirRun {
			p = running
		}
		if err := c.Remove(p); err != nil {
			t.Errorf("remove %s pod: %v", phase, err)
		}
		if _, err := os.Stat(p.Path()); !os.IsNotExist(err) {
			t.Errorf("%s pod still at %s", phase, p.Path())
		}
	}
}

func TestRemoveUnmounts(t *testing.T) {
	data := t.TempDir()
	p := makePod(t, data, dirRun)
	target := filepath.Join(p.Path(), "stage1/rootfs")
	if err := unix.Mount("tmpfs", target, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(target, "with space")
	os.Mkdir(nested, 0o755)
	if err := unix.Mount("tmpfs", nested, "tmpfs", 0, ""); err != nil {
		unix.Unmount(target, unix.MNT_DETACH)
		t.Fatal(err)
	}
	if mps, _ := MountsUnder(p.Path()); len(mps) != 2 || mps[0] != nested {
		t.Errorf("mounts under pod = %q, want the nested one first", mps)
	}
	if err := (&Cleaner{}).Remove(p); err != nil {
		t.Fatal(err)
	}
	if mps, _ := MountsUnder(data); len(mps) != 0 {
		t.Errorf("mounts left: %q", mps)
	}
}

// TestGCZeroGraceOnePass: with no grace period a pod is marked and
// deleted by the same pass (marking itself sets the ctime gc measures).
func TestGCZeroGraceOnePass(t *testing.T) {
	data := t.TempDir()
	exited := makePod(t, data, dirRun)
	if err := (&Cleaner{}).GC(data, GCOptions{ExpirePrepared: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := exited.Refresh(); err == nil {
		t.Errorf("pod still in %s after gc with no grace period", exited.phase)
	}
}

func TestGCRemovesProbeLeftovers(t *testing.T) {
	data := t.TempDir()
	podsDir := PodsDir(data)
	old := filepath.Join(podsDir, overlayProbePrefix+"old")
	fresh := filepath.Join(podsDir, overlayProbePrefix+"fresh")
	for _, d := range []string{old + "/m", fresh + "/m"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("tmpfs", old+"/m", "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	hour := time.Now().Add(-time.Hour)
	os.Chtimes(old, hour, hour)
	if err := (&Cleaner{}).GC(data, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("old probe dir still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh probe dir (maybe in use) removed: %v", err)
	}
	if left, _ := MountsUnder(data); len(left) > 0 {
		t.Errorf("mounts left: %q", left)
	}
}

func TestNetworks(t *testing.T) {
	p := makePod(t, t.TempDir(), dirRun)
	if nets := p.Networks(); nets != nil {
		t.Errorf("networks without net-info.json: %+v", nets)
	}
	js := `[{"netName":"default","ifName":"eth0","ip":"172.16.28.7","confPath":"/x"},{"netName":"db","ip":"10.1.0.2"}]`
	os.WriteFile(filepath.Join(p.Path(), "net-info.json"), []byte(js), 0o644)
	if got := FormatNetworks(p.Networks()); got != "default:ip4=172.16.28.7, db:ip4=10.1.0.2" {
		t.Errorf("networks = %q", got)
	}
	os.WriteFile(filepath.Join(p.Path(), "net-info.json"), []byte("{broken"), 0o644)
	if nets := p.Networks(); nets != nil {
		t.Errorf("networks from a broken file: %+v", nets)
	}
}

// TestListMidRename: a pod seen in two phases (renamed while listed) is
// listed once, in the later phase.
func TestListMidRename(t *testing.T) {
	data := t.TempDir()
	u := "22222222-2222-4222-8222-222222222222"
	for _, d := range []string{dirRun, dirExitedGarbage} {
		if err := os.MkdirAll(filepath.Join(PodsDir(data), d, u), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pods, err := List(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 || pods[0].phase != dirExitedGarbage {
		t.Errorf("listed %d pods, first in %s; want one in exited-garbage", len(pods), pods[0].phase)
	}
}

func TestRelativeDataDir(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	p, err := Create("data")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if want := filepath.Join(dir, "data/pods/prepare", p.UUID); p.Path() != want {
		t.Errorf("path %s, want %s", p.Path(), want)
	}
}

// TestGCRecreatesPhaseDirs: an exited pod is collected even if the
// phase directory it moves to was removed by hand.
func TestGCRecreatesPhaseDirs(t *testing.T) {
	data := t.TempDir()
	exited := makePod(t, data, dirRun)
	os.Remove(filepath.Join(PodsDir(data), dirExitedGarbage))
	if err := (&Cleaner{}).GC(data, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := exited.Refresh(); err == nil {
		t.Errorf("pod still in %s", exited.phase)
	}
}

// status racing rm: the pod was found, then removed before its manifest
// was read. That is no pod found, not a pod without a manifest; a pod gc
// moved on meanwhile is read where it went.
func TestManifestOfPodRemovedMeanwhile(t *testing.T) {
	data := t.TempDir()
	p := makePod(t, data, dirRun)
	q, err := Load(data, p.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p.Path(), filepath.Join(p.podsDir, dirExitedGarbage, p.UUID)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Manifest(); err != nil {
		t.Errorf("manifest of a pod gc marked meanwhile: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(p.podsDir, dirExitedGarbage, p.UUID)); err != nil {
		t.Fatal(err)
	}
	_, err = q.Manifest()
	if want := fmt.Sprintf("no pod found with UUID %q", p.UUID); err == nil || err.Error() != want {
		t.Errorf("manifest of a pod removed meanwhile: %v, want %q", err, want)
	}
}
