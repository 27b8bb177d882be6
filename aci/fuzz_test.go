package aci

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/: valid ACIs in every
// compression and broken or hostile ones (truncated, no manifest, bad
// JSON, "..", absolute names, symlink escapes, forward hardlinks).

func FuzzDecompressAndValidate(f *testing.F) {
	f.Add(craftTar(f, manifestEntry("example.com/seed"), rootfsEntry()))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Validate(bytes.NewReader(data))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			return
		}
		if !strings.HasPrefix(img.ID, IDPrefix) || len(img.ID) != len(IDPrefix)+128 {
			t.Fatalf("bad id %q", img.ID)
		}
		plain, _, err := Decompress(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Validate accepted what Decompress rejects: %v", err)
		}
		defer plain.Close()
		id, err := ImageID(plain)
		if err != nil || id != img.ID {
			t.Fatalf("ImageID = %s, %v; Validate said %s", id, err, img.ID)
		}
		im, err := ReadManifest(bytes.NewReader(data))
		if err != nil || im.Name != img.Manifest.Name {
			t.Fatalf("ReadManifest = %v, %v; Validate found %s", im, err, img.Manifest.Name)
		}
	})
}

// FuzzExtract checks that no archive, however hostile, writes outside the
// destination.
func FuzzExtract(f *testing.F) {
	f.Add(craftTar(f, manifestEntry("example.com/seed"), rootfsEntry()))
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		outside := filepath.Join(base, "outside")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(base, "dest")
		plain, _, err := Decompress(bytes.NewReader(data))
		if err != nil {
			return
		}
		defer plain.Close()
		_ = Extract(plain, dest, ExtractOptions{Overwrite: true}) // only where it writes matters
		ents, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() != "outside" && e.Name() != "dest" {
				t.Errorf("extraction escaped: %s/%s", base, e.Name())
			}
		}
		assertEmpty(t, outside)
	})
}

func FuzzManifest(f *testing.F) {
	f.Add([]byte(manifestJSON("example.com/seed")))
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := ParseManifest(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			return
		}
		again, err := im.MarshalJSON()
		if err != nil {
			t.Fatalf("a parsed manifest does not encode: %v", err)
		}
		im2, err := ParseManifest(again)
		if err != nil {
			t.Fatalf("an encoded manifest does not parse: %v\n%s", err, again)
		}
		if im2.Name != im.Name || len(im2.Dependencies) != len(im.Dependencies) || len(im2.PathWhitelist) != len(im.PathWhitelist) {
			t.Fatalf("round trip changed the manifest: %s", again)
		}
	})
}

func FuzzEntryName(f *testing.F) {
	for _, s := range []string{"manifest", "rootfs/a", "./rootfs//b/", "../x", "/abs", "rootfs/../.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, err := EntryName(raw)
		if err != nil {
			return
		}
		if name == "." {
			return
		}
		if name != ManifestName && name != RootfsName && !strings.HasPrefix(name, RootfsName+"/") {
			t.Fatalf("EntryName(%q) = %q, outside the layout", raw, name)
		}
		for _, part := range strings.Split(name, "/") {
			if part == ".." || part == "." || part == "" {
				t.Fatalf("EntryName(%q) = %q, not clean", raw, name)
			}
		}
	})
}
