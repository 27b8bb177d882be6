package oci

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/saturn-pods/saturn/oci/ocitest"
	"github.com/saturn-pods/saturn/untar"
)

type ent = ocitest.Entry

func layerTar(t testing.TB, ents ...ent) []byte { return ocitest.LayerTar(t, ents...) }

func applyAll(t *testing.T, root string, layers ...[]byte) error {
	t.Helper()
	tree, err := untar.Open(root, untar.Options{Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	for _, l := range layers {
		if err := Apply(tree, bytes.NewReader(l)); err != nil {
			return err
		}
	}
	return tree.Finish()
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func ino(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestApplyWhiteoutsOpaqueAndHardLinks(t *testing.T) {
	base := layerTar(t,
		ent{Name: "a/", Type: tar.TypeDir},
		ent{Name: "a/gone", Type: tar.TypeReg, Body: "old"},
		ent{Name: "a/changed", Type: tar.TypeReg, Body: "v1"},
		ent{Name: "a/dir/", Type: tar.TypeDir},
		ent{Name: "a/dir/deep", Type: tar.TypeReg, Body: "deep"},
		ent{Name: "opq/", Type: tar.TypeDir},
		ent{Name: "opq/lower", Type: tar.TypeReg, Body: "lower"},
		ent{Name: "opq/sub/", Type: tar.TypeDir},
		ent{Name: "opq/sub/lower", Type: tar.TypeReg, Body: "lower"},
		ent{Name: "late/", Type: tar.TypeDir},
		ent{Name: "late/lower", Type: tar.TypeReg, Body: "lower"},
		ent{Name: "target", Type: tar.TypeReg, Body: "shared"},
		ent{Name: "same/", Type: tar.TypeDir},
		ent{Name: "same/lower", Type: tar.TypeReg, Body: "lower"},
	)
	top := layerTar(t,
		ent{Name: "a/.wh.gone", Type: tar.TypeReg},
		ent{Name: "a/.wh.dir", Type: tar.TypeReg},
		ent{Name: "a/changed", Type: tar.TypeReg, Body: "v2"},
		// Opaque marker first, as most tools write it.
		ent{Name: "opq/", Type: tar.TypeDir},
		ent{Name: "opq/.wh..wh..opq", Type: tar.TypeReg},
		ent{Name: "opq/new", Type: tar.TypeReg, Body: "new"},
		// Opaque marker after the layer's own entries of the directory,
		// one of them below a directory kept from the lower layer.
		ent{Name: "late/sub/mine", Type: tar.TypeReg, Body: "mine"},
		ent{Name: "late/.wh..wh..opq", Type: tar.TypeReg},
		// A whiteout does not remove what its own layer holds.
		ent{Name: "same/new", Type: tar.TypeReg, Body: "new"},
		ent{Name: "same/.wh.new", Type: tar.TypeReg},
		// Hard links to a lower layer's file and to one of this layer.
		ent{Name: "link-lower", Type: tar.TypeLink, Link: "target"},
		ent{Name: "own", Type: tar.TypeReg, Body: "own"},
		ent{Name: "link-own", Type: tar.TypeLink, Link: "./own"},
		ent{Name: ".wh..wh..plnk", Type: tar.TypeDir},
	)
	root := t.TempDir()
	if err := applyAll(t, root, base, top); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"a/gone", "a/dir", "opq/lower", "opq/sub", "late/lower", ".wh..wh..plnk", "a/.wh.gone", "opq/.wh..wh..opq"} {
		if exists(filepath.Join(root, gone)) {
			t.Errorf("%s is still there", gone)
		}
	}
	for p, want := range map[string]string{"a/changed": "v2", "opq/new": "new", "late/sub/mine": "mine", "same/new": "new", "same/lower": "lower", "link-lower": "shared"} {
		if got := readFile(t, filepath.Join(root, p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if ino(t, filepath.Join(root, "link-lower")) != ino(t, filepath.Join(root, "target")) {
		t.Error("link-lower is not a hard link of target")
	}
	if ino(t, filepath.Join(root, "link-own")) != ino(t, filepath.Join(root, "own")) {
		t.Error("link-own is not a hard link of own")
	}
}

func TestApplyStaysInside(t *testing.T) {
	outside := t.TempDir()
	root := filepath.Join(outside, "root")
	// A symlink of a lower layer is resolved inside the tree: ".."
	// stops at the tree's root.
	lower := layerTar(t, ent{Name: "up", Type: tar.TypeSymlink, Link: "../../../../../../.."})
	upper := layerTar(t, ent{Name: "up/evil", Type: tar.TypeReg, Body: "x"})
	if err := applyAll(t, root, lower, upper); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Fatalf("a layer wrote outside the tree: %v", ents)
	}
	if !exists(filepath.Join(root, "evil")) {
		t.Error("the entry below the symlink did not land inside the tree")
	}
	// A whiteout through a symlink removes nothing outside either.
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	root2 := t.TempDir()
	wl := layerTar(t, ent{Name: "out", Type: tar.TypeSymlink, Link: outside})
	wu := layerTar(t, ent{Name: "out/.wh.victim", Type: tar.TypeReg}, ent{Name: "out/.wh..wh..opq", Type: tar.TypeReg})
	if err := applyAll(t, root2, wl, wu); err != nil {
		t.Fatal(err)
	}
	if !exists(victim) {
		t.Error("a whiteout removed a file outside the tree")
	}
}

func TestBadLayers(t *testing.T) {
	full := layerTar(t, ent{Name: "big", Type: tar.TypeReg, Body: strings.Repeat("x", 4096)})
	tests := []struct {
		name  string
		layer []byte
		want  string
	}{
		{"dotdot", layerTar(t, ent{Name: "a/../../x", Type: tar.TypeReg}), `".."`},
		{"link out", layerTar(t, ent{Name: "l", Type: tar.TypeLink, Link: "../../etc/passwd"}), `".."`},
		{"below own symlink", layerTar(t, ent{Name: "s", Type: tar.TypeSymlink, Link: "/etc"}, ent{Name: "s/passwd", Type: tar.TypeReg}), "below the symlink"},
		{"whiteout of nothing", layerTar(t, ent{Name: "a/.wh.", Type: tar.TypeReg}), "whiteout of nothing"},
		{"truncated", full[:1024], "truncated"},
		{"root not dir", layerTar(t, ent{Name: ".", Type: tar.TypeReg}), "root is not a directory"},
		{"long name", layerTar(t, ent{Name: "d/" + strings.Repeat("n", 256), Type: tar.TypeReg}), "beyond NAME_MAX"},
		{"long path", layerTar(t, ent{Name: strings.Repeat("d/", 2100) + "f", Type: tar.TypeReg}), "beyond PATH_MAX"},
	}
	for _, tt := range tests {
		_, err := Scan(bytes.NewReader(tt.layer), nil, 0)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Scan error %v, want one mentioning %s", tt.name, err, tt.want)
		}
		if tt.name == "below own symlink" {
			continue // Apply contains it (in-root resolution); Scan refuses it
		}
		err = applyAll(t, t.TempDir(), tt.layer)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Apply error %v, want one mentioning %s", tt.name, err, tt.want)
		}
		if tt.name == "truncated" && !errors.Is(err, untar.ErrTruncated) {
			t.Errorf("truncated: Apply error %v is not ErrTruncated", err)
		}
	}
}

func TestScanSizeCap(t *testing.T) {
	// A sparse-looking header: a file far larger than the archive.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	must(t, tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40}))
	for _, max := range []int64{1 << 20} {
		if _, err := Scan(bytes.NewReader(buf.Bytes()), nil, max); !errors.Is(err, ErrTooLarge) {
			t.Errorf("a 1 TiB file under a %d byte cap: %v", max, err)
		}
	}
	small := layerTar(t, ent{Name: "f", Type: tar.TypeReg, Body: strings.Repeat("x", 10000)})
	if _, err := Scan(bytes.NewReader(small), nil, 4096); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a 10 kB layer under a 4 kB cap: %v", err)
	}
	if _, err := Scan(bytes.NewReader(small), nil, 1<<20); err != nil {
		t.Errorf("a 10 kB layer under a 1 MiB cap: %v", err)
	}
}

func TestScanKeepsUserFiles(t *testing.T) {
	l1 := layerTar(t, ent{Name: "etc/passwd", Type: tar.TypeReg, Body: "root:x:0:0::/root:/bin/sh\n"}, ent{Name: "etc/group", Type: tar.TypeReg, Body: "root:x:0:\n"})
	l2 := layerTar(t, ent{Name: "etc/passwd", Type: tar.TypeReg, Body: "app:x:1000:1001::/:/bin/sh\n"}, ent{Name: "etc/.wh.group", Type: tar.TypeReg})
	view := Files{}
	var total int64
	for _, l := range [][]byte{l1, l2} {
		res, err := Scan(bytes.NewReader(l), UserFiles, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.TarSize != int64(len(l)) {
			t.Errorf("Scan counted %d bytes of %d", res.TarSize, len(l))
		}
		total += res.TarSize
		view.Merge(res.Files)
	}
	if string(view[PasswdFile]) != "app:x:1000:1001::/:/bin/sh\n" || view[GroupFile] != nil {
		t.Errorf("files = %q", view)
	}
	if u, g := resolveUser("app", view); u != "app" || g != "1001" {
		t.Errorf("user app = %s:%s, want app:1001", u, g)
	}
	if u, g := resolveUser("1000", view); u != "1000" || g != "1001" {
		t.Errorf("user 1000 = %s:%s, want 1000:1001", u, g)
	}
	if u, g := resolveUser("5:7", view); u != "5" || g != "7" {
		t.Errorf("user 5:7 = %s:%s", u, g)
	}
	if u, g := resolveUser("", view); u != "0" || g != "0" {
		t.Errorf("user \"\" = %s:%s", u, g)
	}
	if u, g := resolveUser("nobody", view); u != "nobody" || g != "0" {
		t.Errorf("user nobody = %s:%s", u, g)
	}
}
