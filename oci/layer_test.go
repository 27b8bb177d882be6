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

	"github.com/saturn-pods/saturn/untar"
)

type ent struct {
	name, body, link string
	typ              byte
}

func layerTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link, Size: int64(len(e.body))}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

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
		ent{name: "a/", typ: tar.TypeDir},
		ent{name: "a/gone", typ: tar.TypeReg, body: "old"},
		ent{name: "a/changed", typ: tar.TypeReg, body: "v1"},
		ent{name: "a/dir/", typ: tar.TypeDir},
		ent{name: "a/dir/deep", typ: tar.TypeReg, body: "deep"},
		ent{name: "opq/", typ: tar.TypeDir},
		ent{name: "opq/lower", typ: tar.TypeReg, body: "lower"},
		ent{name: "opq/sub/", typ: tar.TypeDir},
		ent{name: "opq/sub/lower", typ: tar.TypeReg, body: "lower"},
		ent{name: "late/", typ: tar.TypeDir},
		ent{name: "late/lower", typ: tar.TypeReg, body: "lower"},
		ent{name: "target", typ: tar.TypeReg, body: "shared"},
		ent{name: "same/", typ: tar.TypeDir},
		ent{name: "same/lower", typ: tar.TypeReg, body: "lower"},
	)
	top := layerTar(t,
		ent{name: "a/.wh.gone", typ: tar.TypeReg},
		ent{name: "a/.wh.dir", typ: tar.TypeReg},
		ent{name: "a/changed", typ: tar.TypeReg, body: "v2"},
		// Opaque marker first, as most tools write it.
		ent{name: "opq/", typ: tar.TypeDir},
		ent{name: "opq/.wh..wh..opq", typ: tar.TypeReg},
		ent{name: "opq/new", typ: tar.TypeReg, body: "new"},
		// Opaque marker after the layer's own entries of the directory,
		// one of them below a directory kept from the lower layer.
		ent{name: "late/sub/mine", typ: tar.TypeReg, body: "mine"},
		ent{name: "late/.wh..wh..opq", typ: tar.TypeReg},
		// A whiteout does not remove what its own layer holds.
		ent{name: "same/new", typ: tar.TypeReg, body: "new"},
		ent{name: "same/.wh.new", typ: tar.TypeReg},
		// Hard links to a lower layer's file and to one of this layer.
		ent{name: "link-lower", typ: tar.TypeLink, link: "target"},
		ent{name: "own", typ: tar.TypeReg, body: "own"},
		ent{name: "link-own", typ: tar.TypeLink, link: "./own"},
		ent{name: ".wh..wh..plnk", typ: tar.TypeDir},
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
	lower := layerTar(t, ent{name: "up", typ: tar.TypeSymlink, link: "../../../../../../.."})
	upper := layerTar(t, ent{name: "up/evil", typ: tar.TypeReg, body: "x"})
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
	wl := layerTar(t, ent{name: "out", typ: tar.TypeSymlink, link: outside})
	wu := layerTar(t, ent{name: "out/.wh.victim", typ: tar.TypeReg}, ent{name: "out/.wh..wh..opq", typ: tar.TypeReg})
	if err := applyAll(t, root2, wl, wu); err != nil {
		t.Fatal(err)
	}
	if !exists(victim) {
		t.Error("a whiteout removed a file outside the tree")
	}
}

func TestBadLayers(t *testing.T) {
	full := layerTar(t, ent{name: "big", typ: tar.TypeReg, body: strings.Repeat("x", 4096)})
	tests := []struct {
		name  string
		layer []byte
		want  string
	}{
		{"dotdot", layerTar(t, ent{name: "a/../../x", typ: tar.TypeReg}), `".."`},
		{"link out", layerTar(t, ent{name: "l", typ: tar.TypeLink, link: "../../etc/passwd"}), `".."`},
		{"below own symlink", layerTar(t, ent{name: "s", typ: tar.TypeSymlink, link: "/etc"}, ent{name: "s/passwd", typ: tar.TypeReg}), "below the symlink"},
		{"whiteout of nothing", layerTar(t, ent{name: "a/.wh.", typ: tar.TypeReg}), "whiteout of nothing"},
		{"truncated", full[:1024], "truncated"},
		{"root not dir", layerTar(t, ent{name: ".", typ: tar.TypeReg}), "root is not a directory"},
		{"long name", layerTar(t, ent{name: "d/" + strings.Repeat("n", 256), typ: tar.TypeReg}), "beyond NAME_MAX"},
		{"long path", layerTar(t, ent{name: strings.Repeat("d/", 2100) + "f", typ: tar.TypeReg}), "beyond PATH_MAX"},
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
	small := layerTar(t, ent{name: "f", typ: tar.TypeReg, body: strings.Repeat("x", 10000)})
	if _, err := Scan(bytes.NewReader(small), nil, 4096); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a 10 kB layer under a 4 kB cap: %v", err)
	}
	if _, err := Scan(bytes.NewReader(small), nil, 1<<20); err != nil {
		t.Errorf("a 10 kB layer under a 1 MiB cap: %v", err)
	}
}

func TestScanKeepsUserFiles(t *testing.T) {
	l1 := layerTar(t, ent{name: "etc/passwd", typ: tar.TypeReg, body: "root:x:0:0::/root:/bin/sh\n"}, ent{name: "etc/group", typ: tar.TypeReg, body: "root:x:0:\n"})
	l2 := layerTar(t, ent{name: "etc/passwd", typ: tar.TypeReg, body: "app:x:1000:1001::/:/bin/sh\n"}, ent{name: "etc/.wh.group", typ: tar.TypeReg})
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
