package store

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/oci"
	"github.com/saturn-pods/saturn/oci/ocitest"
)

func openOCI(t *testing.T, ref string) *oci.Image {
	t.Helper()
	src, err := oci.ParseSource(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := oci.Open(context.Background(), src, oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

func layerFiles(t *testing.T, s *Store) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.casDir, "layers", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestImportOCISharesLayers(t *testing.T) {
	s := openTestStore(t)
	l := ocitest.NewLayout(t)
	base := ocitest.LayerTar(t, ocitest.Entry{Name: "etc/passwd", Type: tar.TypeReg, Body: "root:x:0:0::/:/bin/sh\nu:x:7:8::/:/bin/sh\n"})
	l.Tag(l.Image(v1.Config{User: "u", Cmd: []string{"/a"}}, base, ocitest.LayerTar(t, ocitest.Entry{Name: "a", Type: tar.TypeReg, Body: "a"})), "a")
	l.Tag(l.Image(v1.Config{Cmd: []string{"/b"}}, base, ocitest.LayerTar(t, ocitest.Entry{Name: "b", Type: tar.TypeReg, Body: "b"})), "b")

	// Two imports at once, sharing the base layer.
	ids := make([]string, 2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, tag := range []string{"a", "b"} {
		img := openOCI(t, "oci:"+l.Dir+":"+tag)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = s.ImportOCI(context.Background(), img, OCIImportOptions{Origin: img.Source.String()})
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("imports: %v, %v", errs[0], errs[1])
	}
	if n := len(layerFiles(t, s)); n != 3 {
		t.Errorf("%d layer blobs stored, want 3 (the base once)", n)
	}
	m, err := s.Manifest(ids[0])
	if err != nil || m.App.User != "u" || m.App.Group != "8" {
		t.Errorf("image a's app: %+v, %v (want user u, group 8 from the base layer's passwd)", m.App, err)
	}
	if err := s.Verify(ids[0]); err != nil {
		t.Errorf("verify: %v", err)
	}

	// Removing a keeps the layers b uses.
	if err := s.Remove(ids[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(layerFiles(t, s)); n != 2 {
		t.Errorf("%d layer blobs after removing a, want b's 2", n)
	}
	// A layer damaged on disk.
	o, err := s.OCI(ids[1])
	if err != nil {
		t.Fatal(err)
	}
	p := s.layerPath(o.Layers[1])
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ids[1]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("verify of a damaged layer: %v", err)
	}
	if err := s.RenderTo(ids[1], t.TempDir(), aci.RenderOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("render of a damaged layer: %v", err)
	}

	// A layer file the index does not know is a leftover.
	stray := filepath.Join(s.casDir, "layers", "sha256-"+ocitest.Digest([]byte("stray")).Hex)
	if err := os.WriteFile(stray, []byte("stray"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ids[1]); err != nil {
		t.Fatal(err)
	}
	res, err := s.GC(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Leftovers) != 1 || res.Leftovers[0] != stray || len(layerFiles(t, s)) != 0 {
		t.Errorf("gc leftovers %v, layers left %v", res.Leftovers, layerFiles(t, s))
	}
}

func TestImportOCIRefusedLeavesNothing(t *testing.T) {
	s := openTestStore(t)
	l := ocitest.NewLayout(t)
	good := ocitest.LayerTar(t, ocitest.Entry{Name: "ok", Type: tar.TypeReg, Body: "ok"})
	bad := ocitest.LayerTar(t, ocitest.Entry{Name: "s", Type: tar.TypeSymlink, Link: "/etc"}, ocitest.Entry{Name: "s/passwd", Type: tar.TypeReg})
	l.Tag(l.Image(v1.Config{}, good, bad), "bad")
	img := openOCI(t, "oci:"+l.Dir+":bad")
	if _, err := s.ImportOCI(context.Background(), img, OCIImportOptions{}); err == nil {
		t.Fatal("a layer writing below its own symlink was stored")
	}
	if infos, _ := s.List(); len(infos) != 0 || len(layerFiles(t, s)) != 0 {
		t.Errorf("after a refused import: images %v, layers %v", infos, layerFiles(t, s))
	}
	if tmps, _ := os.ReadDir(s.tmpDir); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}
}
