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
		{{name: "a/", typ: tar.TypeDir}, {name: "a/f", typ: tar.TypeReg, body: "x"}, {name: "a/.wh.f", typ: tar.TypeReg}},
		{{name: "d/.wh..wh..opq", typ: tar.TypeReg}, {name: "d/n", typ: tar.TypeReg, body: "n"}},
		{{name: "t", typ: tar.TypeReg, body: "t"}, {name: "l", typ: tar.TypeLink, link: "t"}},
		{{name: "up", typ: tar.TypeSymlink, link: "../../.."}, {name: "x", typ: tar.TypeLink, link: "up/etc/passwd"}},
		{{name: "s", typ: tar.TypeSymlink, link: "/"}, {name: "s/x", typ: tar.TypeReg}},
		{{name: "../x", typ: tar.TypeReg}},
		{{name: "etc/passwd", typ: tar.TypeReg, body: "root:x:0:0::/:/bin/sh\n"}},
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
