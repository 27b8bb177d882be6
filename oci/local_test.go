package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/saturn-pods/saturn/oci/ocitest"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func openSrc(t *testing.T, s string) (*Image, error) {
	t.Helper()
	src, err := ParseSource(s)
	if err != nil {
		t.Fatal(err)
	}
	return Open(context.Background(), src, Options{})
}

func TestOpenLayout(t *testing.T) {
	l := ocitest.NewLayout(t)
	layer := layerTar(t, ent{Name: "hello", Type: tar.TypeReg, Body: "hi"})
	d := l.Image(v1.Config{Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "true"}}, layer)
	l.Tag(d, "v1")
	// An index with another platform and this one, tagged v2.
	other := l.Image(v1.Config{}, layer)
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{
		{MediaType: other.MediaType, Digest: other.Digest, Size: other.Size, Platform: &v1.Platform{OS: "linux", Architecture: "riscv-none"}},
		{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}},
	}}
	raw, err := json.Marshal(idx)
	must(t, err)
	l.Tag(l.Blob(types.OCIImageIndex, raw), "v2")

	for _, ref := range []string{"oci:" + l.Dir + ":v1", "oci:" + l.Dir + ":v2", "oci:" + l.Dir + "@" + d.Digest.String()} {
		img, err := openSrc(t, ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if img.Digest != d.Digest || len(img.Layers) != 1 || img.Layers[0].Compression != Gzip {
			t.Errorf("%s: digest %s, layers %+v", ref, img.Digest, img.Layers)
		}
		if !strings.HasPrefix(img.ID(), "sha512-") || len(img.ID()) != len("sha512-")+128 {
			t.Errorf("%s: id %s", ref, img.ID())
		}
		img.Close()
	}
	if _, err := openSrc(t, "oci:"+l.Dir+":nope"); err == nil || !strings.Contains(err.Error(), `no image named "nope"`) {
		t.Errorf("missing ref: %v", err)
	}
	if _, err := openSrc(t, "oci:"+l.Dir); err == nil || !strings.Contains(err.Error(), "name one") {
		t.Errorf("two images, no ref: %v", err)
	}

	// A manifest whose bytes no longer match its digest.
	p := filepath.Join(l.Dir, "blobs", "sha256", d.Digest.Hex)
	orig, err := os.ReadFile(p)
	must(t, err)
	must(t, os.WriteFile(p, bytes.Replace(orig, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":2 `), 1), 0o644))
	if _, err := openSrc(t, "oci:"+l.Dir+":v1"); !errors.Is(err, ErrDigest) {
		t.Errorf("tampered manifest: %v, want a digest mismatch", err)
	}
	must(t, os.WriteFile(p, orig, 0o644))
}

func TestOpenUnknownMediaTypes(t *testing.T) {
	l := ocitest.NewLayout(t)
	cfg := l.Blob("application/vnd.cncf.helm.config.v1+json", []byte(`{}`))
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfg}
	raw, err := json.Marshal(m)
	must(t, err)
	l.Tag(l.Blob(types.OCIManifestSchema1, raw), "chart")
	if _, err := openSrc(t, "oci:"+l.Dir+":chart"); err == nil || !strings.Contains(err.Error(), "unknown config media type") {
		t.Errorf("helm chart: %v", err)
	}
	layer := layerTar(t, ent{Name: "x", Type: tar.TypeReg})
	cf := v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH, RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{sha256Of(layer)}}}
	raw, err = json.Marshal(cf)
	must(t, err)
	m = v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: l.Blob(types.OCIConfigJSON, raw),
		Layers: []v1.Descriptor{l.Blob("application/vnd.example.layer.v1.tar+lz4", layer)}}
	raw, err = json.Marshal(m)
	must(t, err)
	l.Tag(l.Blob(types.OCIManifestSchema1, raw), "lz4")
	if _, err := openSrc(t, "oci:"+l.Dir+":lz4"); err == nil || !strings.Contains(err.Error(), "unknown layer media type") {
		t.Errorf("lz4 layer: %v", err)
	}
}

func TestOpenDockerArchive(t *testing.T) {
	layer := layerTar(t, ent{Name: "f", Type: tar.TypeReg, Body: "docker"})
	cf := v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH, RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{sha256Of(layer)}}}
	cfg, err := json.Marshal(cf)
	must(t, err)
	man, err := json.Marshal([]dockerSaveEntry{{Config: "cfg.json", RepoTags: []string{"example/app:1"}, Layers: []string{"abc/layer.tar"}}})
	must(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"cfg.json", cfg}, {"abc/layer.tar", layer}, {"manifest.json", man}} {
		must(t, tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.data))}))
		_, err := tw.Write(f.data)
		must(t, err)
	}
	must(t, tw.Close())
	p := filepath.Join(t.TempDir(), "save.tar")
	must(t, os.WriteFile(p, buf.Bytes(), 0o644))
	var ids []string
	for _, ref := range []string{"docker-archive:" + p, "docker-archive:" + p + ":example/app:1"} {
		img, err := openSrc(t, ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if len(img.Layers) != 1 || img.Layers[0].Compression != Uncompressed || img.Layers[0].Digest != sha256Of(layer) {
			t.Errorf("%s: layers %+v", ref, img.Layers)
		}
		rc, err := img.OpenLayer(context.Background(), 0)
		must(t, err)
		var got bytes.Buffer
		_, err = got.ReadFrom(rc)
		must(t, err)
		rc.Close()
		if !bytes.Equal(got.Bytes(), layer) {
			t.Errorf("%s: layer content differs", ref)
		}
		ids = append(ids, img.ID())
		img.Close()
	}
	if ids[0] != ids[1] {
		t.Error("the same archive gave two image ids")
	}
	if _, err := openSrc(t, "docker-archive:"+p+":example/app:2"); err == nil || !strings.Contains(err.Error(), "no image tagged") {
		t.Errorf("missing tag: %v", err)
	}
}

func TestAppcManifest(t *testing.T) {
	cf := &v1.ConfigFile{Config: v1.Config{
		Entrypoint:   []string{"/entry"},
		Cmd:          []string{"a", "b"},
		Env:          []string{"PATH=/usr/bin:/bin", "A=1", "A=2"},
		WorkingDir:   "/srv",
		User:         "app",
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8080": {}},
		Volumes:      map[string]struct{}{"/var/lib/db": {}},
		Labels:       map[string]string{"org.example.team": "core", "Maintainer": "me", "bad label!": "x"},
	}}
	m, err := AppcManifest(cf, AppcOptions{Repository: "127.0.0.1:5000/test/app", Tag: "v1",
		Files: Files{PasswdFile: []byte("app:x:1000:1001::/:/bin/sh\n")}})
	if err != nil {
		t.Fatal(err)
	}
	a := m.App
	if m.Name != "127.0.0.1-5000/test/app" || strings.Join(a.Exec, " ") != "/entry a b" || a.WorkingDirectory != "/srv" || a.User != "app" || a.Group != "1001" {
		t.Errorf("manifest %s exec %q wd %s user %s:%s", m.Name, a.Exec, a.WorkingDirectory, a.User, a.Group)
	}
	if v, _ := a.Environment.Get("A"); v != "2" {
		t.Errorf("A = %q, want the later value", v)
	}
	var ports []string
	for _, p := range a.Ports {
		ports = append(ports, string(p.Name))
	}
	if strings.Join(ports, " ") != "53-udp 80-tcp 8080-tcp" {
		t.Errorf("ports %v", ports)
	}
	if len(a.MountPoints) != 1 || a.MountPoints[0].Name != "volume-var-lib-db" || a.MountPoints[0].Path != "/var/lib/db" {
		t.Errorf("mount points %+v", a.MountPoints)
	}
	if v, _ := m.Annotations.Get("org.example.team"); v != "core" {
		t.Errorf("annotations %v", m.Annotations)
	}
	if v, _ := m.Annotations.Get("maintainer"); v != "me" {
		t.Errorf("annotations %v", m.Annotations)
	}
	if v, _ := m.GetLabel("version"); v != "v1" {
		t.Errorf("version label %q", v)
	}
}
