package copytree

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func open(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.OpenFile(p, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestIntoKeepsOwnersModesTimes(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("run as root: the copy keeps owners")
	}
	src, dst := t.TempDir(), t.TempDir()
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "sub/deeper"), 0o750))
	must(os.WriteFile(filepath.Join(src, "sub/deeper/f"), []byte("data"), 0o644))
	must(os.WriteFile(filepath.Join(src, "suid"), []byte("x"), 0o755))
	must(os.Chown(filepath.Join(src, "suid"), 1000, 1001))
	must(unix.Chmod(filepath.Join(src, "suid"), 0o4755))
	must(os.Symlink("../outside", filepath.Join(src, "link")))
	must(unix.Lchown(filepath.Join(src, "link"), 1000, 1000))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o640))
	must(unix.Mknod(filepath.Join(src, "node"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(os.Chown(filepath.Join(src, "sub"), 33, 34))
	must(os.Chtimes(filepath.Join(src, "sub/deeper/f"), old, old))
	must(os.Chtimes(filepath.Join(src, "sub"), old, old))
	if err := Into(open(t, dst), open(t, src)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		mode     uint32
		uid, gid uint32
		mtime    time.Time
	}{
		{"sub", unix.S_IFDIR | 0o750, 33, 34, old},
		{"sub/deeper/f", unix.S_IFREG | 0o644, 0, 0, old},
		{"suid", unix.S_IFREG | 0o4755, 1000, 1001, time.Time{}},
		{"link", unix.S_IFLNK | 0o777, 1000, 1000, time.Time{}},
		{"fifo", unix.S_IFIFO | 0o640, 0, 0, time.Time{}},
	} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dst, tc.name), &st); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if st.Mode != tc.mode || st.Uid != tc.uid || st.Gid != tc.gid {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", tc.name, st.Mode, st.Uid, st.Gid, tc.mode, tc.uid, tc.gid)
		}
		if !tc.mtime.IsZero() && time.Unix(st.Mtim.Unix()).UTC() != tc.mtime {
			t.Errorf("%s: mtime %v, want %v", tc.name, time.Unix(st.Mtim.Unix()).UTC(), tc.mtime)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, "sub/deeper/f")); err != nil || string(b) != "data" {
		t.Errorf("copied file holds %q, %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "../outside" {
		t.Errorf("copied link is %q, %v; want the link itself", l, err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "node")); !os.IsNotExist(err) {
		t.Errorf("the device node was copied: %v", err)
	}
	must(Attrs(open(t, dst), open(t, filepath.Join(src, "sub"))))
	var st unix.Stat_t
	must(unix.Stat(dst, &st))
	if st.Mode != unix.S_IFDIR|0o750 || st.Uid != 33 || st.Gid != 34 {
		t.Errorf("Attrs: mode %o owner %d:%d, want 750 33:34", st.Mode, st.Uid, st.Gid)
	}
}

// A symlink in the source is copied as a link: the copy never reads
// through it, even when it points at a directory.
func TestIntoDoesNotFollowSymlinks(t *testing.T) {
	src, dst, outside := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(src, "dir")); err != nil {
		t.Fatal(err)
	}
	if err := Into(open(t, dst), open(t, src)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "dir", "secret")); err == nil {
		if fi, _ := os.Lstat(filepath.Join(dst, "dir")); fi.Mode()&os.ModeSymlink == 0 {
			t.Error("the symlinked directory's content was copied")
		}
	}
	if fi, err := os.Lstat(filepath.Join(dst, "dir")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("dir is not a symlink in the copy: %v", err)
	}
}
