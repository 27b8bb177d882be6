package fdmount

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/inroot"
)

// Every test here mounts.
func TestMain(m *testing.M) {
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "fdmount tests mount file systems: run them as root")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func openRoot(t *testing.T) (string, *os.File) {
	t.Helper()
	dir := t.TempDir()
	root, err := inroot.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, root
}

// A mount point of the wrong type is replaced, as the ACE spec says; a
// missing one is made with its parents.
func TestTargetMakesAndReplaces(t *testing.T) {
	dir, root := openRoot(t)
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dir/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p   string
		dir bool
	}{{"/file", true}, {"/dir", false}, {"/new/deep/x", true}, {"/new/f", false}} {
		f, err := Target(root, tc.p, tc.dir)
		if err != nil {
			t.Errorf("Target(%s, dir %v): %v", tc.p, tc.dir, err)
			continue
		}
		f.Close()
		st, err := os.Lstat(filepath.Join(dir, tc.p))
		if err != nil || st.IsDir() != tc.dir {
			t.Errorf("Target(%s, dir %v) left %v, %v", tc.p, tc.dir, st, err)
		}
	}
}

// A mount point that resolves to the root itself would cover it.
func TestTargetRefusesRoot(t *testing.T) {
	dir, root := openRoot(t)
	if err := os.Symlink("/", filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/up", "/..", "/up/."} {
		if f, err := Target(root, p, true); err == nil {
			f.Close()
			t.Errorf("Target(%s) gave a mount point on the root", p)
		}
	}
}

// NewOn passes options and attributes; BindOn binds read-only when
// asked.
func TestNewOnAndBindOn(t *testing.T) {
	dir, root := openRoot(t)
	tmp, err := Target(root, "/tmp", true)
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	if err := NewOn(tmp, "tmpfs", unix.MOUNT_ATTR_NODEV, "mode=1777"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(filepath.Join(dir, "tmp"), unix.MNT_DETACH)
	st, err := os.Stat(filepath.Join(dir, "tmp"))
	if err != nil || st.Mode()&os.ModePerm != 0o777 || st.Mode()&os.ModeSticky == 0 {
		t.Errorf("tmpfs mode %v, %v; want 1777", st.Mode(), err)
	}
	if err := NewOn(tmp, "tmpfs", 0, "nosuchoption=1"); err == nil {
		t.Error("NewOn took an unknown option")
	}
	src := t.TempDir()
	ro, err := Target(root, "/ro", true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := BindOn(src, ro, false, ReadOnly(true)); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(filepath.Join(dir, "ro"), unix.MNT_DETACH)
	if !IsMountRoot(filepath.Join(dir, "ro")) {
		t.Error("bind mount is not a mount root")
	}
	if err := os.WriteFile(filepath.Join(dir, "ro/x"), nil, 0o644); err == nil {
		t.Error("wrote through a read-only bind")
	}
}
