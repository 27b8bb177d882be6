package inroot

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fdPath is the host path of the object f holds.
func fdPath(t *testing.T, f *os.File) string {
	t.Helper()
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hostileLinks are symlinks an image or a writer of a volume could
// plant to send a walk out of the root; outside is a directory beside
// the root, which no walk may touch.
func hostileLinks(outside string) map[string]string {
	return map[string]string{
		"bin":         "usr/bin",
		"abs":         "/etc",
		"escape":      "../../../../etc",
		"usr/bin/up":  "../..",
		"loop":        "loop",
		"etc/dangles": "/nowhere/file",
		"work":        "nope/../../../../../../etc/cron.d/x",
		"late":        "nope/../escape/shadow",
		"host":        outside,
		"hostup":      "../../../../../../../../" + outside + "/x",
	}
}

// rootWithLinks makes a root holding usr/bin and etc, and links in it.
func rootWithLinks(t *testing.T, links map[string]string) (string, *os.File) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for l, target := range links {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, l)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return root, f
}

// Parent finds what Resolve finds (TestResolve),
// never outside root, making the directories on the way.
func TestParentIn(t *testing.T) {
	outside := t.TempDir()
	root, rf := rootWithLinks(t, hostileLinks(outside))
	for _, tc := range []struct{ in, want string }{
		{"/bin/sh", "usr/bin/sh"},
		{"bin", "usr/bin"},
		{"/abs/passwd", "etc/passwd"},
		{"/escape/passwd", "etc/passwd"},
		{"/../../etc", "etc"},
		{"/usr/bin/up/etc", "etc"},
		{"/usr/bin/up", "."},
		{"/", "."},
		{"/etc/dangles", "nowhere/file"},
		{"/new/dir/x", "new/dir/x"},
		{"/work", "etc/cron.d/x"},
		{"/work/y", "etc/cron.d/x/y"},
		{"/late", "etc/shadow"},
		{"/missing/../../../etc/passwd", "etc/passwd"},
		{"/host/x", outside[1:] + "/x"},
		{"/hostup", outside[1:] + "/x"},
	} {
		dir, name, err := Parent(rf, tc.in)
		if err != nil {
			t.Errorf("Parent(%q): %v", tc.in, err)
			continue
		}
		got := filepath.Join(fdPath(t, dir), name)
		dir.Close()
		if want := filepath.Join(root, tc.want); got != want {
			t.Errorf("Parent(%q) = %q, want %q", tc.in, got, want)
		}
	}
	if dir, _, err := Parent(rf, "/loop/x"); err == nil {
		dir.Close()
		t.Errorf("Parent(/loop/x) resolved a symlink loop")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("resolving in %s made %v in %s, outside it", root, ents, outside)
	}
}

// MkdirAll makes the directory inside root, through dangling and
// escaping symlinks, and refuses a file on the way.
func TestMkdirAllIn(t *testing.T) {
	outside := t.TempDir()
	root, rf := rootWithLinks(t, map[string]string{
		"etc/dangles": "/nowhere",
		"host":        outside + "/new",
		"up":          "../../../../..",
	})
	if err := os.WriteFile(filepath.Join(root, "etc/file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"/etc/dangles/x", "nowhere/x"},
		{"/host/a/b", outside[1:] + "/new/a/b"},
		{"/up/up/made", "made"},
		{"/usr/bin", "usr/bin"},
	} {
		d, err := MkdirAll(rf, tc.in)
		if err != nil {
			t.Errorf("MkdirAll(%q): %v", tc.in, err)
			continue
		}
		if got, want := fdPath(t, d), filepath.Join(root, tc.want); got != want {
			t.Errorf("MkdirAll(%q) = %q, want %q", tc.in, got, want)
		}
		d.Close()
		if st, err := os.Stat(filepath.Join(root, tc.want)); err != nil || !st.IsDir() {
			t.Errorf("MkdirAll(%q) made no directory %s: %v", tc.in, tc.want, err)
		}
	}
	if d, err := MkdirAll(rf, "/etc/file/x"); err == nil {
		d.Close()
		t.Errorf("MkdirAll went through a regular file")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("MkdirAll in %s made %v in %s, outside it", root, ents, outside)
	}
}

// OpenAt refuses a symlink, which O_PATH|O_NOFOLLOW alone would open.
func TestOpenAtRefusesSymlink(t *testing.T) {
	_, rf := rootWithLinks(t, map[string]string{"l": "/etc"})
	if f, err := OpenAt(rf, "l", 0); err == nil {
		f.Close()
		t.Errorf("OpenAt opened a symlink")
	}
	f, err := OpenAt(rf, "etc", 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}
