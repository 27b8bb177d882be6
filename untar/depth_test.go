package untar

import (
	"archive/tar"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The work of checking and extracting an entry must not grow with its
// depth: a deep archive costs in proportion to its entries, so one with
// thousands of nested directories cannot stall a fetch or a render.

func TestSymlinkGuardWorkLinearInEntries(t *testing.T) {
	var g SymlinkGuard
	// A symlink elsewhere in the archive, as every image has.
	if err := g.Check("rootfs/bin/sh", &tar.Header{Typeflag: tar.TypeSymlink, Linkname: "busybox"}); err != nil {
		t.Fatal(err)
	}
	const depth = 2000
	name := "rootfs"
	for range depth {
		name += "/a"
		if err := g.Check(name, &tar.Header{Typeflag: tar.TypeDir}); err != nil {
			t.Fatal(err)
		}
	}
	// Looking up every ancestor of every entry costs depth²/2.
	if max := 3 * depth; g.lookups > max {
		t.Errorf("checking %d nested directories took %d lookups, want at most %d", depth, g.lookups, max)
	}
}

func TestSymlinkGuardStillRefuses(t *testing.T) {
	var g SymlinkGuard
	for _, e := range []struct {
		name string
		hdr  tar.Header
		want string
	}{
		{"rootfs/a", tar.Header{Typeflag: tar.TypeDir}, ""},
		{"rootfs/a/l", tar.Header{Typeflag: tar.TypeSymlink, Linkname: "/etc"}, ""},
		{"rootfs/a/l/passwd", tar.Header{Typeflag: tar.TypeReg}, "below the symlink rootfs/a/l -> /etc"},
		{"rootfs/a/l/x/y", tar.Header{Typeflag: tar.TypeReg}, "below the symlink rootfs/a/l -> /etc"},
		{"rootfs/a/lx", tar.Header{Typeflag: tar.TypeReg}, ""},
		// A later entry of the same name replaces the symlink.
		{"rootfs/a/l", tar.Header{Typeflag: tar.TypeDir}, ""},
		{"rootfs/a/l/passwd", tar.Header{Typeflag: tar.TypeReg}, ""},
		{"/abs", tar.Header{Typeflag: tar.TypeSymlink, Linkname: "x"}, ""},
		{"/abs/f", tar.Header{Typeflag: tar.TypeReg}, "below the symlink /abs -> x"},
	} {
		hdr := e.hdr
		hdr.Name = e.name
		err := g.Check(e.name, &hdr)
		if e.want == "" && err != nil || e.want != "" && (err == nil || !strings.Contains(err.Error(), e.want)) {
			t.Errorf("%s: %v, want %q", e.name, err, e.want)
		}
	}
}

// chain writes a chain of depth directories, each holding a file, and
// returns the Tree's count of path components resolved.
func extractChain(t *testing.T, depth int) int {
	t.Helper()
	x, err := Open(filepath.Join(t.TempDir(), "root"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	mt := time.Unix(1e9, 0)
	rel := ""
	for i := 0; i < depth; i++ {
		rel = strings.TrimPrefix(rel+"/d", "/")
		if err := x.Entry(rel, &tar.Header{Name: rel + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt}, nil); err != nil {
			t.Fatal(err)
		}
		f := rel + "/f"
		if err := x.Entry(f, &tar.Header{Name: f, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt}, strings.NewReader("")); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Finish(); err != nil {
		t.Fatal(err)
	}
	return x.walked
}

func TestExtractionWorkLinearInEntries(t *testing.T) {
	const depth = 1500
	walked := extractChain(t, depth)
	// Each of the 2*depth entries may open its parent and Finish each
	// directory; resolving paths from the root again costs depth²/2.
	if max := 4 * 2 * depth; walked > max {
		t.Errorf("extracting %d nested directories with a file each resolved %d path components, want at most %d", depth, walked, max)
	}
}
