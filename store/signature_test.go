package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSignatureKeptWithImage(t *testing.T) {
	s := openTestStore(t)
	img := testImage{name: "example.com/signed", files: map[string]string{"a": "1"}}.tar(t)
	id, err := s.Import(bytes.NewReader(img), ImportOptions{Signature: []byte("first")})
	if err != nil {
		t.Fatal(err)
	}
	check := func(want string) {
		t.Helper()
		sig, err := s.Signature(id)
		if err != nil {
			t.Fatal(err)
		}
		if sig == nil || string(sig.Armored) != want || sig.SignedForm != "none" {
			t.Fatalf("signature = %+v, want %q of the plain tar", sig, want)
		}
	}
	check("first")
	// An unsigned re-import keeps the signature; a signed one replaces it.
	if _, err := s.Import(bytes.NewReader(img), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	check("first")
	if _, err := s.Import(bytes.NewReader(img), ImportOptions{Signature: []byte("second")}); err != nil {
		t.Fatal(err)
	}
	check("second")
	if ents, _ := os.ReadDir(s.tmpDir); len(ents) != 0 {
		t.Fatalf("imports left %d temp files", len(ents))
	}
	unsigned := mustImport(t, s, testImage{name: "example.com/unsigned"})
	if sig, err := s.Signature(unsigned); sig != nil || err != nil {
		t.Fatalf("unsigned image has signature %+v, %v", sig, err)
	}
	if err := s.Remove(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.sigPath(id)); !os.IsNotExist(err) {
		t.Fatalf("Remove left the signature: %v", err)
	}
}

func TestSignatureGC(t *testing.T) {
	s := openTestStore(t)
	id, err := s.Import(bytes.NewReader(testImage{name: "example.com/old"}.tar(t)), ImportOptions{Signature: []byte("sig")})
	if err != nil {
		t.Fatal(err)
	}
	// What an import killed between rename and commit leaves.
	orphan := filepath.Join(s.sigDir, "sha512-"+strings.Repeat("0", 128)+sigSuffix)
	if err := os.WriteFile(orphan, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := s.GC(time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Leftovers) != 1 || res.Leftovers[0] != orphan {
		t.Errorf("gc leftovers = %v, want the orphan signature", res.Leftovers)
	}
	if _, err := os.Stat(s.sigPath(id)); err != nil {
		t.Fatalf("gc within grace removed a signature: %v", err)
	}
	if _, err := s.GC(0, nil); err != nil {
		t.Fatal(err)
	}
	assertEmptyStore(t, s)
}

func TestImportWantIDAndLatest(t *testing.T) {
	s := openTestStore(t)
	img := testImage{name: "example.com/pinned"}.tar(t)
	wrong := "sha512-" + strings.Repeat("ab", 64)
	_, err := s.Import(bytes.NewReader(img), ImportOptions{WantID: wrong, Signature: []byte("sig")})
	if err == nil || !strings.Contains(err.Error(), "not the required") {
		t.Fatalf("import of the wrong image: %v", err)
	}
	assertEmptyStore(t, s)
	id, err := s.Import(bytes.NewReader(img), ImportOptions{Latest: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(bytes.NewReader(img), ImportOptions{WantID: id}); err != nil {
		t.Fatalf("import of the required image: %v", err)
	}
	infos, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	// As rkt, each import says anew whether it came by the latest pattern.
	if len(infos) != 1 || infos[0].Latest {
		t.Fatalf("list = %+v, want one image, not latest after a versioned import", infos)
	}
	if _, err := s.Import(bytes.NewReader(img), ImportOptions{Latest: true}); err != nil {
		t.Fatal(err)
	}
	if infos, _ := s.List(); !infos[0].Latest {
		t.Fatal("Latest not recorded")
	}
}
