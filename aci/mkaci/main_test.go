package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/aci"
)

func layout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	m := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/mkaci"}`
	if err := os.WriteFile(filepath.Join(dir, "manifest"), []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "rootfs/etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs/etc/hostname"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBuildsEveryCompression(t *testing.T) {
	dir := layout(t)
	out := t.TempDir()
	for _, c := range []aci.Compression{aci.NoCompression, aci.Gzip, aci.Bzip2, aci.Xz} {
		p := filepath.Join(out, c.String()+".aci")
		if err := run([]string{"--compression=" + c.String(), dir, p}); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 512)
		if _, err := f.Read(head); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
		img, err := aci.Validate(f)
		f.Close()
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if got := aci.DetectCompression(head); got != c {
			t.Errorf("file is %v, want %v", got, c)
		}
		if img.Manifest.Name.String() != "example.com/mkaci" {
			t.Errorf("name %s", img.Manifest.Name)
		}
	}
}

func TestOverwrite(t *testing.T) {
	dir := layout(t)
	p := filepath.Join(t.TempDir(), "x.aci")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run([]string{dir, p})
	if err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("error %v, want a hint about --overwrite", err)
	}
	if data, _ := os.ReadFile(p); string(data) != "old" {
		t.Fatal("the existing file was changed")
	}
	if err := run([]string{"--overwrite", dir, p}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); string(data) == "old" {
		t.Fatal("--overwrite did not replace the file")
	}
}

func TestBadUsage(t *testing.T) {
	dir := layout(t)
	out := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no args", nil, "need exactly DIR and OUT.aci"},
		{"one arg", []string{dir}, "need exactly DIR and OUT.aci"},
		{"bad compression", []string{"--compression=zstd", dir, filepath.Join(out, "a.aci")}, `"zstd"`},
		{"bad flag", []string{"--frobnicate", dir, filepath.Join(out, "b.aci")}, "frobnicate"},
		{"bad layout", []string{out, filepath.Join(out, "c.aci")}, "manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		t.Errorf("left behind %s", e.Name())
	}
}
