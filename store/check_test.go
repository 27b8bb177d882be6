package store

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckNoWritesThroughSymlinks(t *testing.T) {
	dir := func(n string) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755} }
	reg := func(n string) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644} }
	sym := func(n, to string) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: to} }
	tests := []struct {
		name    string
		entries []*tar.Header
		wantErr string
	}{
		{"plain tree", []*tar.Header{dir("rootfs/"), dir("rootfs/a/"), reg("rootfs/a/f"), sym("rootfs/l", "a")}, ""},
		{"file below symlink", []*tar.Header{dir("rootfs/"), sym("rootfs/etc", "/etc"), reg("rootfs/etc/passwd")}, "below the symlink rootfs/etc -> /etc"},
		{"deep below symlink", []*tar.Header{dir("rootfs/"), sym("rootfs/x", "../.."), dir("rootfs/x/y/"), reg("rootfs/x/y/z")}, "below the symlink rootfs/x"},
		{"dir below nested symlink", []*tar.Header{dir("rootfs/"), dir("rootfs/a/"), sym("rootfs/a/b", "/"), dir("rootfs/a/b/c/")}, "rootfs/a/b"},
		{"symlink replaced by dir", []*tar.Header{dir("rootfs/"), sym("rootfs/d", "/tmp"), dir("rootfs/d/"), reg("rootfs/d/f")}, ""},
		{"symlink replaced by file", []*tar.Header{dir("rootfs/"), sym("rootfs/f", "/etc/shadow"), reg("rootfs/f")}, ""},
		{"sibling with symlink's prefix", []*tar.Header{dir("rootfs/"), sym("rootfs/lib", "usr/lib"), reg("rootfs/lib64")}, ""},
		{"dot slash names", []*tar.Header{dir("./rootfs/"), sym("./rootfs/s", "/"), reg("./rootfs/s/x")}, "below the symlink rootfs/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tw := tar.NewWriter(f)
			for _, h := range tt.entries {
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			err = checkNoWritesThroughSymlinks(f)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestTreeHashCoversWhatMatters(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "rootfs", "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "manifest"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "rootfs", "d", "f"), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	base, err := treeHash(root)
	if err != nil {
		t.Fatal(err)
	}
	// Files beside manifest and rootfs (hash, images) do not count, and
	// hashing twice gives the same answer.
	if err := os.WriteFile(filepath.Join(root, treeHashFile), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	if again, err := treeHash(root); err != nil || again != base {
		t.Fatalf("rehash = %s, %v; want %s", again, err, base)
	}
	f := filepath.Join(root, "rootfs", "d", "f")
	changes := []struct {
		name string
		do   func() error
		undo func() error
	}{
		{"content", func() error { return os.WriteFile(f, []byte("contenT"), 0o644) }, func() error { return os.WriteFile(f, []byte("content"), 0o644) }},
		{"mode", func() error { return os.Chmod(f, 0o4755) }, func() error { return os.Chmod(f, 0o644) }},
		{"owner", func() error { return os.Lchown(f, 1, 2) }, func() error { return os.Lchown(f, 0, 0) }},
		{"manifest", func() error { return os.WriteFile(filepath.Join(root, "manifest"), []byte("{ }"), 0o644) }, func() error { return os.WriteFile(filepath.Join(root, "manifest"), []byte("{}"), 0o644) }},
		{"new empty dir", func() error { return os.Mkdir(filepath.Join(root, "rootfs", "e"), 0o755) }, func() error { return os.Remove(filepath.Join(root, "rootfs", "e")) }},
	}
	for _, c := range changes {
		if err := c.do(); err != nil {
			t.Fatal(err)
		}
		got, err := treeHash(root)
		if err != nil {
			t.Fatal(err)
		}
		if got == base {
			t.Errorf("a change of %s did not change the hash", c.name)
		}
		if err := c.undo(); err != nil {
			t.Fatal(err)
		}
		if got, _ := treeHash(root); got != base {
			t.Errorf("undoing the %s change did not restore the hash", c.name)
		}
	}
}
