package inroot

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// RemoveAt removes a symlink it meets, not what the symlink names, and
// stops at a mount.
func TestRemoveAtStaysInDir(t *testing.T) {
	outside := t.TempDir()
	root, rf := rootWithLinks(t, map[string]string{"d/sub/link": outside})
	if err := os.WriteFile(filepath.Join(outside, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "d/sub/f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAt(int(rf.Fd()), "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "d")); !os.IsNotExist(err) {
		t.Errorf("d not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("removing d removed %s/keep through a symlink: %v", outside, err)
	}
	if err := RemoveAt(int(rf.Fd()), "missing"); err != nil {
		t.Errorf("RemoveAt of a missing name: %v", err)
	}
}

// A directory holding a mount is not emptied: the mount's content is not
// the directory's. Bind mounts need root.
func TestRemoveAtStopsAtMount(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test bind-mounts a directory: run it as root")
	}
	root, rf := rootWithLinks(t, nil)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(root, "m/mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(vol, mnt, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	if err := RemoveAt(int(rf.Fd()), "m"); err == nil {
		t.Errorf("RemoveAt removed a directory holding a mount")
	}
	if _, err := os.Stat(filepath.Join(vol, "marker")); err != nil {
		t.Errorf("RemoveAt emptied a mounted volume: %v", err)
	}
}
