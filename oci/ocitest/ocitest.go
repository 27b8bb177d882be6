// Package ocitest writes OCI image layouts and layer tars by hand, for the
// tests of the packages that read them (oci, store).
package ocitest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RefName is the index.json annotation that names an image.
const RefName = "org.opencontainers.image.ref.name"

// Layout is an OCI image layout directory being written.
type Layout struct {
	t   testing.TB
	Dir string
	idx v1.IndexManifest
}

// NewLayout makes an empty layout in a temp dir.
func NewLayout(t testing.TB) *Layout {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
	return &Layout{t: t, Dir: dir, idx: v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Digest is the sha256 digest of b.
func Digest(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// Blob stores b and describes it as of media type mt.
func (l *Layout) Blob(mt types.MediaType, b []byte) v1.Descriptor {
	d := Digest(b)
	p := filepath.Join(l.Dir, "blobs", "sha256", d.Hex)
	must(l.t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(l.t, os.WriteFile(p, b, 0o644))
	return v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
}

// Gzip compresses b.
func Gzip(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

// Image adds an image of the host's platform with the plain layers
// (stored gzipped) and config cfg, and returns its manifest descriptor.
func (l *Layout) Image(cfg v1.Config, layers ...[]byte) v1.Descriptor {
	cf := v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH, Config: cfg, RootFS: v1.RootFS{Type: "layers"}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	for _, plain := range layers {
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, Digest(plain))
		m.Layers = append(m.Layers, l.Blob(types.OCILayer, Gzip(l.t, plain)))
	}
	raw, err := json.Marshal(cf)
	must(l.t, err)
	m.Config = l.Blob(types.OCIConfigJSON, raw)
	raw, err = json.Marshal(m)
	must(l.t, err)
	return l.Blob(types.OCIManifestSchema1, raw)
}

// Tag names the manifest d ref in index.json.
func (l *Layout) Tag(d v1.Descriptor, ref string) {
	d.Annotations = map[string]string{RefName: ref}
	l.idx.Manifests = append(l.idx.Manifests, d)
	raw, err := json.Marshal(l.idx)
	must(l.t, err)
	must(l.t, os.WriteFile(filepath.Join(l.Dir, "index.json"), raw, 0o644))
}

// Entry is one entry of a layer tar.
type Entry struct {
	Name, Body, Link string
	Type             byte
}

// LayerTar writes entries as an uncompressed tar (directories 0755,
// everything else 0644).
func LayerTar(t testing.TB, ents ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		hdr := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: 0o644, Linkname: e.Link, Size: int64(len(e.Body))}
		if e.Type == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if e.Type != tar.TypeReg {
			hdr.Size = 0
		}
		must(t, tw.WriteHeader(hdr))
		if hdr.Size > 0 {
			_, err := tw.Write([]byte(e.Body))
			must(t, err)
		}
	}
	must(t, tw.Close())
	return buf.Bytes()
}
