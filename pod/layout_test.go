package pod

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
)

const stage1Manifest = `,"annotations":[{"name":"coreos.com/rkt/stage1/run","value":"/init"}]`

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
	entry, ok, err := p.HostEntrypoint(stage1abi.EntrypointRun, f.locate)
	if err != nil || !ok {
		t.Fatalf("HostEntrypoint: %q, %v, %v", entry, ok, err)
	}
	if !strings.HasPrefix(entry, f.root+"/") {
		t.Errorf("HostEntrypoint = %q, want a path in the stage1 tree under %s", entry, f.root)
	}
	if b, err := os.ReadFile(entry); err != nil || strings.Contains(string(b), "replaced") {
		t.Errorf("entrypoint %s is the replaced copy (%v)", entry, err)
	}
	if entry, _, _ := p.HostEntrypoint(stage1abi.EntrypointRun, nil); entry != inPod {
		t.Errorf("without trees HostEntrypoint = %q, want the pod's %q", entry, inPod)
	}
}
