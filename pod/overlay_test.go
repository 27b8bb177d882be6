package pod

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

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
