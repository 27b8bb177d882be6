package oci

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzScanApply feeds untrusted layers to Scan and, when Scan accepts
// one, to Apply: errors are one line and nothing lands outside the tree.
func FuzzScanApply(f *testing.F) {
	for _, seed := range [][]ent{
		{{Name: "a/", Type: tar.TypeDir}, {Name: "a/f", Type: tar.TypeReg, Body: "x"}, {Name: "a/.wh.f", Type: tar.TypeReg}},
		{{Name: "d/.wh..wh..opq", Type: tar.TypeReg}, {Name: "d/n", Type: tar.TypeReg, Body: "n"}},
		{{Name: "t", Type: tar.TypeReg, Body: "t"}, {Name: "l", Type: tar.TypeLink, Link: "t"}},
		{{Name: "up", Type: tar.TypeSymlink, Link: "../../.."}, {Name: "x", Type: tar.TypeLink, Link: "up/etc/passwd"}},
		{{Name: "s", Type: tar.TypeSymlink, Link: "/"}, {Name: "s/x", Type: tar.TypeReg}},
		{{Name: "../x", Type: tar.TypeReg}},
		{{Name: "etc/passwd", Type: tar.TypeReg, Body: "root:x:0:0::/:/bin/sh\n"}},
	} {
		f.Add(layerTar(f, seed...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Scan(bytes.NewReader(data), UserFiles, 1<<20)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Scan error is not one line: %q", err)
			}
			return
		}
		base := t.TempDir()
		root := filepath.Join(base, "root")
		err = applyAll(t, root, data)
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("Apply error is not one line: %q", err)
		}
		ents, _ := os.ReadDir(base)
		if len(ents) != 1 {
			t.Fatalf("Apply wrote beside the tree: %v", ents)
		}
	})
}

// FuzzParseSource: no panic, errors of one line, and a parsed source's
// canonical form parses to itself.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"docker://busybox", "docker://127.0.0.1:5000/a/b:c", "docker://a/b@sha256:" + strings.Repeat("0", 64),
		"oci:/x:y", "oci:/x@sha256:" + strings.Repeat("a", 64), "oci-archive:f.tar", "docker-archive:/f:a/b:c", "docker://A:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		src, err := ParseSource(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			return
		}
		again, err := ParseSource(src.String())
		if err != nil || again.String() != src.String() {
			t.Errorf("ParseSource(%q) = %q, which parses to %v, %v", s, src.String(), again, err)
		}
	})
}
