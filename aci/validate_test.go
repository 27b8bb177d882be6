package aci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateComputesIDAndSize(t *testing.T) {
	dir := richLayout(t, "example.com/rich")
	plain := buildBytes(t, dir, NoCompression)
	sum := sha512.Sum512(plain)
	wantID := "sha512-" + hex.EncodeToString(sum[:])
	for _, c := range []Compression{NoCompression, Gzip, Bzip2, Xz} {
		t.Run(c.String(), func(t *testing.T) {
			img, err := Validate(bytes.NewReader(buildBytes(t, dir, c)))
			if err != nil {
				t.Fatal(err)
			}
			if img.ID != wantID {
				t.Errorf("ID = %s, want %s", img.ID, wantID)
			}
			if img.Size != int64(len(plain)) {
				t.Errorf("Size = %d, want %d", img.Size, len(plain))
			}
			if img.Manifest.Name.String() != "example.com/rich" {
				t.Errorf("manifest name = %s", img.Manifest.Name)
			}
		})
	}
	id, err := ImageID(bytes.NewReader(plain))
	if err != nil || id != wantID {
		t.Errorf("ImageID = %s, %v; want %s", id, err, wantID)
	}
}

func TestReadManifest(t *testing.T) {
	dir := richLayout(t, "example.com/rm")
	for _, c := range []Compression{NoCompression, Gzip, Bzip2, Xz} {
		im, err := ReadManifest(bytes.NewReader(buildBytes(t, dir, c)))
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if im.Name.String() != "example.com/rm" {
			t.Errorf("%v: name = %s", c, im.Name)
		}
	}
	// The manifest may come last, as appc's actool writes it.
	last := craftTar(t, rootfsEntry(), tarEntry{name: "rootfs/a", typ: tar.TypeReg, body: "a"}, manifestEntry("example.com/last"))
	im, err := ReadManifest(bytes.NewReader(last))
	if err != nil || im.Name.String() != "example.com/last" {
		t.Errorf("manifest at the end: %v, %v", im, err)
	}
	if _, err := ReadManifest(bytes.NewReader(craftTar(t, rootfsEntry()))); err == nil || !strings.Contains(err.Error(), "missing manifest") {
		t.Errorf("no manifest: error %v", err)
	}
}

func gzipped(t *testing.T, data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

// noise is incompressible text, so truncating a compressed archive cuts
// into its entries rather than only into the trailer.
func noise(n int) string {
	var b strings.Builder
	x := uint32(2463534242)
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteByte('a' + byte(x%26))
	}
	return b.String()
}

func corruptMiddle(data []byte) []byte {
	data = bytes.Clone(data)
	for i := len(data) / 2; i < len(data)/2+64; i++ {
		data[i] ^= 0x5a
	}
	return data
}

func TestValidateRejects(t *testing.T) {
	good := craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
		tarEntry{name: "rootfs/file", typ: tar.TypeReg, body: noise(20000)})
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"truncated tar", good[:len(good)/2], "truncated"},
		{"truncated gzip", gzipped(t, good)[:len(gzipped(t, good))/2], "truncated"},
		{"corrupt gzip", corruptMiddle(gzipped(t, good)), "corrupt archive"},
		{"unknown compression", append([]byte{0x28, 0xb5, 0x2f, 0xfd}, good...), "unknown compression"},
		{"missing manifest", craftTar(t, rootfsEntry()), "missing manifest"},
		{"invalid manifest JSON", craftTar(t, tarEntry{name: "manifest", typ: tar.TypeReg, body: "{not json"}), "invalid image manifest"},
		{"wrong acKind", craftTar(t, tarEntry{name: "manifest", typ: tar.TypeReg,
			body: `{"acKind":"PodManifest","acVersion":"0.8.11","name":"example.com/a"}`}), "invalid image manifest"},
		{"manifest without name", craftTar(t, tarEntry{name: "manifest", typ: tar.TypeReg,
			body: `{"acKind":"ImageManifest","acVersion":"0.8.11"}`}), "invalid image manifest"},
		{"two manifests", craftTar(t, manifestEntry("example.com/a"), manifestEntry("example.com/b")), "more than one manifest"},
		{"manifest directory", craftTar(t, tarEntry{name: "manifest/", typ: tar.TypeDir}), "manifest is not a regular file"},
		{"rootfs is a file", craftTar(t, manifestEntry("example.com/a"), tarEntry{name: "rootfs", typ: tar.TypeReg}), "rootfs is not a directory"},
		{"dot-dot entry", craftTar(t, manifestEntry("example.com/a"), tarEntry{name: "../../etc/x", typ: tar.TypeReg, body: "x"}), `contains ".."`},
		{"dot-dot inside rootfs", craftTar(t, manifestEntry("example.com/a"), tarEntry{name: "rootfs/../../x", typ: tar.TypeReg}), `contains ".."`},
		{"absolute entry", craftTar(t, manifestEntry("example.com/a"), tarEntry{name: "/etc/x", typ: tar.TypeReg}), "absolute entry name"},
		{"entry outside rootfs", craftTar(t, manifestEntry("example.com/a"), tarEntry{name: "etc/passwd", typ: tar.TypeReg}), "outside manifest and rootfs/"},
		{"rootfs prefix lookalike", craftTar(t, manifestEntry("example.com/a"), tarEntry{name: "rootfsx/a", typ: tar.TypeReg}), "outside manifest and rootfs/"},
		{"hardlink outside", craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
			tarEntry{name: "rootfs/h", typ: tar.TypeLink, linkname: "../../etc/passwd"}), "points outside rootfs"},
		{"hardlink to the manifest", craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
			tarEntry{name: "rootfs/h", typ: tar.TypeLink, linkname: "manifest"}), "points outside rootfs"},
		{"hardlink forward", craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
			tarEntry{name: "rootfs/h", typ: tar.TypeLink, linkname: "rootfs/later"},
			tarEntry{name: "rootfs/later", typ: tar.TypeReg}), "not earlier in the archive"},
		{"missing rootfs", craftTar(t, manifestEntry("example.com/a")), "missing rootfs"},
		{"duplicate entry", craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
			tarEntry{name: "rootfs/f", typ: tar.TypeReg}, tarEntry{name: "./rootfs/f", typ: tar.TypeReg}), "duplicate entry"},
		{"hardlink to directory", craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
			tarEntry{name: "rootfs/d/", typ: tar.TypeDir}, tarEntry{name: "rootfs/h", typ: tar.TypeLink, linkname: "rootfs/d"}), "points to directory"},
		{"top entry not a directory", craftTar(t, tarEntry{name: ".", typ: tar.TypeReg}), "is not a directory"},
		{"unsupported type", craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
			tarEntry{name: "rootfs/c", typ: tar.TypeCont}), "unsupported type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Validate(bytes.NewReader(tt.data))
			if err == nil {
				t.Fatalf("Validate accepted it: %+v", img)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	if _, err := Validate(bytes.NewReader(good)); err != nil {
		t.Errorf("the good archive of this table is rejected: %v", err)
	}
	// `tar -C layout .` starts with "./" and prefixes every name with it.
	dotted := craftTar(t, tarEntry{name: "./", typ: tar.TypeDir}, tarEntry{name: "./manifest", typ: tar.TypeReg, body: manifestJSON("example.com/a")},
		tarEntry{name: "./rootfs/", typ: tar.TypeDir}, tarEntry{name: "./rootfs/f", typ: tar.TypeReg, body: "f"},
		tarEntry{name: "./rootfs/h", typ: tar.TypeLink, linkname: "./rootfs/f"})
	if _, err := Validate(bytes.NewReader(dotted)); err != nil {
		t.Errorf("an archive made with tar -C dir . is rejected: %v", err)
	}
	dest := t.TempDir()
	if err := Extract(bytes.NewReader(dotted), dest, ExtractOptions{}); err != nil {
		t.Errorf("an archive made with tar -C dir . does not extract: %v", err)
	}
	checkFile(t, filepath.Join(dest, "rootfs/h"), "f")
}

func TestEntryName(t *testing.T) {
	tests := []struct {
		raw, want string
		ok        bool
	}{
		{"manifest", "manifest", true},
		{"./manifest", "manifest", true},
		{"rootfs/", "rootfs", true},
		{"./rootfs/a/b/", "rootfs/a/b", true},
		{"rootfs//a/./b", "rootfs/a/b", true},
		{"./", ".", true},
		{".", ".", true},
		{"", "", false},
		{"/rootfs/a", "", false},
		{"rootfs/../manifest", "", false},
		{"rootfs/a/..", "", false},
		{"other", "", false},
		{"manifest2", "", false},
		{"rootfs/a\x00b", "", false},
	}
	for _, tt := range tests {
		got, err := EntryName(tt.raw)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("EntryName(%q) = %q, %v; want %q ok=%v", tt.raw, got, err, tt.want, tt.ok)
		}
	}
}
