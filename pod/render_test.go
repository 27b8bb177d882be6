package pod

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"golang.org/x/sys/unix"
)

// fakeTrees is an image store whose trees are directories made by the
// test: <root>/<n>/{manifest,rootfs}.
type fakeTrees struct {
	fakeImages
	root string
}

func (f *fakeTrees) RenderTree(id string) (string, string, error) {
	if _, ok := f.fakeImages[id]; !ok {
		return "", "", fmt.Errorf("no image %s", id)
	}
	treeID := "deps-" + id[len(id)-8:]
	return treeID, filepath.Join(f.root, treeID), nil
}

func (f *fakeTrees) locate(treeID string) (string, error) { return filepath.Join(f.root, treeID), nil }

// addImage makes image n with the given manifest and rootfs files
// (path -> content; content "->target" makes a symlink).
func (f *fakeTrees) addImage(t *testing.T, n int, m *schema.ImageManifest, files map[string]string) string {
	t.Helper()
	id := fakeID(n)
	f.fakeImages[id] = m
	treeID, dir, _ := f.RenderTree(id)
	_ = treeID
	b, _ := json.Marshal(m)
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		full := filepath.Join(dir, "rootfs", p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			mode := os.FileMode(0o644)
			if strings.HasPrefix(p, "bin/") || p == "init" {
				mode = 0o755
			}
			err = os.WriteFile(full, []byte(content), mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return id
}

const stage1Manifest = `,"annotations":[{"name":"coreos.com/rkt/stage1/run","value":"/init"}]`

func newFakeTrees(t *testing.T) *fakeTrees {
	f := &fakeTrees{fakeImages: fakeImages{}, root: t.TempDir()}
	f.addImage(t, 100, imageManifest(t, "example.com/stage1", stage1Manifest), map[string]string{"init": "#!/bin/sh\n"})
	f.addImage(t, 1, imageManifest(t, "example.com/busybox", `,"app":{"exec":["/bin/sh"],"user":"0","group":"0"}`), map[string]string{
		"bin/busybox": "ELF", "bin/sh": "busybox", "usr/bin/env": "->/bin/busybox",
		"etc/passwd": "root:x:0:0::/:/bin/sh\ntester:x:1000:1000::/:/bin/sh\n",
		"etc/group":  "root:x:0:\ntesters:x:1000:\n",
	})
	// bin/sh as a relative symlink, like busybox applets.
	os.Remove(filepath.Join(f.root, "deps-00000001", "rootfs/bin/sh"))
	os.Symlink("busybox", filepath.Join(f.root, "deps-00000001", "rootfs/bin/sh"))
	return f
}

func planFor(t *testing.T, f *fakeTrees, args ...string) (*Plan, error) {
	t.Helper()
	return NewPlan(generated(t, f, args...), fakeID(100), f)
}

func TestPlanChecks(t *testing.T) {
	f := newFakeTrees(t)
	ok := [][]string{
		{"busybox"},
		{"busybox", "--exec=/usr/bin/env", "--user=tester", "--group=testers"},
		{"busybox", "--exec=sh", "--user=1234", "--group=/etc/passwd"},
	}
	for _, args := range ok {
		if _, err := planFor(t, f, args...); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"busybox", "--exec=/bin/nope"}, `app "busybox": executable "/bin/nope" not found in image example.com/busybox`},
		{[]string{"busybox", "--exec=relative"}, `executable "relative" not found on PATH`},
		{[]string{"busybox", "--exec=/etc/passwd"}, "not an executable file"},
		{[]string{"busybox", "--exec=/bin"}, "not an executable file"},
		{[]string{"busybox", "--user=alice"}, `user "alice" not found in image example.com/busybox`},
		{[]string{"busybox", "--group=wheel"}, `group "wheel" not found in image example.com/busybox`},
	}
	for _, b := range bad {
		if _, err := planFor(t, f, b.args...); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: %v, want %q", b.args, err, b.want)
		}
	}
}

func layPod(t *testing.T, overlay bool) (*Pod, *fakeTrees, string) {
	t.Helper()
	f := newFakeTrees(t)
	plan, err := planFor(t, f, "busybox", "busybox", "--name=second")
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	p, err := Create(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UnmountAll(data); p.Close() })
	if err := Lay(p, plan, overlay); err != nil {
		t.Fatal(err)
	}
	return p, f, data
}

func TestLayCopy(t *testing.T) {
	p, _, _ := layPod(t, false)
	dir := p.Path()
	for _, f := range []string{"pod", "pod-created", "stage1TreeStoreID", "stage1/manifest", "stage1/rootfs/init",
		"appsinfo/busybox/treeStoreID", "appsinfo/second/manifest",
		"stage1/rootfs/opt/stage2/busybox/manifest", "stage1/rootfs/opt/stage2/second/rootfs/etc/passwd"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if l, err := os.Readlink(filepath.Join(dir, "stage1/rootfs/opt/stage2/busybox/rootfs/usr/bin/env")); err != nil || l != "/bin/busybox" {
		t.Errorf("symlink copied as %q, %v", l, err)
	}
	if p.UsesOverlay() {
		t.Error("copied pod claims overlay")
	}
	if err := Mount(p, nil); err != nil {
		t.Errorf("Mount of a copied pod: %v", err)
	}
	pm, err := p.Manifest()
	if err != nil || len(pm.Apps) != 2 {
		t.Fatalf("manifest: %v", err)
	}
	if im, err := p.AppImageManifest("second"); err != nil || im.Name != "example.com/busybox" {
		t.Errorf("app image manifest: %v", err)
	}
}

func TestLayOverlayAndMount(t *testing.T) {
	p, f, data := layPod(t, true)
	if err := OverlaySupported(data); err != nil {
		t.Fatalf("overlayfs unavailable on the test machine: %v", err)
	}
	dir := p.Path()
	if !p.UsesOverlay() {
		t.Fatal("overlay pod without marker")
	}
	if _, err := os.Stat(filepath.Join(dir, "overlay/deps-00000001/upper/second")); err != nil {
		t.Errorf("app upper dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stage1/rootfs/init")); err == nil {
		t.Error("stage1 rootfs filled before Mount")
	}
	if err := Mount(p, f.locate); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stage1/rootfs/opt/stage2/second/rootfs/bin/busybox")); err != nil {
		t.Errorf("app rootfs not mounted: %v", err)
	}
	// Stage1 writes land in its upper dir and are read back from there
	// once unmounted.
	status := filepath.Join(dir, "stage1/rootfs/rkt/status")
	os.MkdirAll(status, 0o755)
	os.WriteFile(filepath.Join(status, "second"), []byte("9"), 0o644)
	mps, _ := MountsUnder(dir)
	if len(mps) != 3 {
		t.Errorf("mounts = %q, want stage1 and two apps", mps)
	}
	if err := UnmountAll(dir); err != nil {
		t.Fatal(err)
	}
	if code, err := p.AppExitCode("second"); err != nil || code != 9 {
		t.Errorf("exit code after unmount: %d, %v", code, err)
	}
	// gc remounts stage1 to run its gc entrypoint.
	if err := mountStage1(p, f.locate); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stage1/rootfs/init")); err != nil {
		t.Errorf("stage1 not remounted: %v", err)
	}
	if err := UnmountAll(dir); err != nil {
		t.Fatal(err)
	}
}

// Apps keep CAP_MKNOD: a device node made in a rootfs overlay (the
// stage1's or an app's) must not open. The node made here has
// /dev/null's numbers, so a failing test touches no disk.
func TestOverlayMountsAreNodev(t *testing.T) {
	p, f, data := layPod(t, true)
	if err := OverlaySupported(data); err != nil {
		t.Fatalf("overlayfs unavailable on the test machine: %v", err)
	}
	if err := Mount(p, f.locate); err != nil {
		t.Fatal(err)
	}
	dir := p.Path()
	for _, rootfs := range []string{"stage1/rootfs", "stage1/rootfs/opt/stage2/busybox/rootfs", "stage1/rootfs/opt/stage2/second/rootfs"} {
		node := filepath.Join(dir, rootfs, "null")
		if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatalf("mknod in %s: %v", rootfs, err)
		}
		fd, err := unix.Open(node, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
			t.Errorf("a device node made in %s opens", rootfs)
		} else if err != unix.EACCES {
			t.Errorf("open a device node made in %s: %v, want EACCES", rootfs, err)
		}
	}
}

func TestCopyTreeKeepsMetadata(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	os.MkdirAll(filepath.Join(src, "dir"), 0o700)
	f := filepath.Join(src, "dir", "ping")
	os.WriteFile(f, []byte("x"), 0o755)
	os.Chown(f, 1000, 1001)
	unix.Chmod(f, 0o4755)
	if err := unix.Lsetxattr(f, "user.saturn-test", []byte("v"), 0); err != nil {
		t.Fatalf("xattrs unavailable on the test file system: %v", err)
	}
	os.Symlink("dir/ping", filepath.Join(src, "link"))
	if err := unix.Mkfifo(filepath.Join(src, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dst, "dir", "ping"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1000 || st.Gid != 1001 || st.Mode&0o7777 != 0o4755 {
		t.Errorf("copied file: uid %d gid %d mode %o", st.Uid, st.Gid, st.Mode&0o7777)
	}
	val := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(dst, "dir", "ping"), "user.saturn-test", val); err != nil || string(val[:n]) != "v" {
		t.Errorf("xattr not copied: %q, %v", val, err)
	}
	if l, _ := os.Readlink(filepath.Join(dst, "link")); l != "dir/ping" {
		t.Errorf("symlink = %q", l)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "fifo")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("fifo not copied: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(dst, "dir")); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode())
	}
}

func TestOverlayProbeCached(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, overlayOKFile)
	if err := OverlaySupported(dir); err != nil {
		t.Fatalf("overlayfs unavailable on the test machine: %v", err)
	}
	key, err := overlayProbeKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(cache); err != nil || string(b) != key {
		t.Fatalf("cache = %q, %v; want %q", b, err, key)
	}
	// A cache from another boot or file system is probed again and
	// replaced; the probe leaves nothing else behind.
	if err := os.WriteFile(cache, []byte("other-boot 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := OverlaySupported(dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(cache); string(b) != key {
		t.Fatalf("stale cache not replaced: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("probe left %d entries, want only the cache", len(ents))
	}
	// A path nothing can be probed under (a regular file) is refused.
	if err := OverlaySupported(cache); err == nil {
		t.Fatal("probe under a regular file succeeded")
	}
}

func TestToPreparedNeedsTheLock(t *testing.T) {
	p, _, _ := layPod(t, true)
	if err := p.ToPrepared(); err != nil {
		t.Fatal(err)
	}
	if p.State() != StatePrepared {
		t.Fatalf("state %s, want prepared", p.State())
	}
	// The pod is synced through the locked descriptor: a handle without
	// the lock cannot commit a prepare.
	q := &Pod{UUID: p.UUID, podsDir: p.podsDir, phase: dirPrepared}
	if err := q.ToPrepared(); err == nil {
		t.Fatal("ToPrepared without the lock succeeded")
	}
}

// TestHostEntrypointComesFromTheTree: an entrypoint stage0 runs on the
// host is the stage1 tree's binary, not the pod's copy, which an escaped
// app could have replaced.
func TestHostEntrypointComesFromTheTree(t *testing.T) {
	p, f, _ := layPod(t, false)
	inPod := filepath.Join(p.Stage1RootfsPath(), "init")
	if err := os.WriteFile(inPod, []byte("#!/bin/sh\necho replaced\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	entry, ok, err := p.HostEntrypoint(EntrypointRun, f.locate)
	if err != nil || !ok {
		t.Fatalf("HostEntrypoint: %q, %v, %v", entry, ok, err)
	}
	if !strings.HasPrefix(entry, f.root+"/") {
		t.Errorf("HostEntrypoint = %q, want a path in the stage1 tree under %s", entry, f.root)
	}
	if b, err := os.ReadFile(entry); err != nil || strings.Contains(string(b), "replaced") {
		t.Errorf("entrypoint %s is the replaced copy (%v)", entry, err)
	}
	if entry, _, _ := p.HostEntrypoint(EntrypointRun, nil); entry != inPod {
		t.Errorf("without trees HostEntrypoint = %q, want the pod's %q", entry, inPod)
	}
}

func TestMakeStage2Parents(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(lower, "opt"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(lower, "opt"), 1234, 4321); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(lower, "opt"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := makeStage2Parents(lower, upper); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string][3]int{"opt": {0o711, 1234, 4321}, "opt/stage2": {0o755, 0, 0}} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(upper, rel), &st); err != nil {
			t.Fatal(err)
		}
		got := [3]int{int(st.Mode & 0o7777), int(st.Uid), int(st.Gid)}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || got != want {
			t.Errorf("%s: mode %o owner %d:%d, want a directory %o %d:%d", rel, got[0], got[1], got[2], want[0], want[1], want[2])
		}
	}
	// Made again (run-prepared after a failed start): nothing changes.
	if err := makeStage2Parents(lower, upper); err != nil {
		t.Fatal(err)
	}

	// A tree whose opt is not a directory: refused, upper untouched.
	lower2, upper2 := t.TempDir(), t.TempDir()
	if err := os.Symlink("/elsewhere", filepath.Join(lower2, "opt")); err != nil {
		t.Fatal(err)
	}
	if err := makeStage2Parents(lower2, upper2); err == nil {
		t.Error("opt as a symlink: accepted")
	}
	if ents, _ := os.ReadDir(upper2); len(ents) != 0 {
		t.Errorf("upper after refusal: %v", ents)
	}
}
