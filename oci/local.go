package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/saturn-pods/saturn/clip"
)

// refNameAnnotation names an image inside an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// files is a directory or an archive, read by file name.
type files interface {
	open(name string) (io.ReadCloser, error)
}

type dirFiles string

func (d dirFiles) open(name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
}

// tarFiles reads the regular files of an uncompressed tar archive in
// place: one pass notes where each file's data starts.
type tarFiles struct {
	f       *os.File
	entries map[string]tarSpan
}

type tarSpan struct{ off, size int64 }

func openTarFiles(p string) (*tarFiles, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, withoutPath(err)
	}
	t := &tarFiles{f: f, entries: map[string]tarSpan{}}
	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		// tar.Reader reads exactly the header blocks, so what was read
		// so far ends where the file's data begins.
		t.entries[path.Clean(strings.TrimPrefix(hdr.Name, "/"))] = tarSpan{cr.n, hdr.Size}
	}
	return t, nil
}

func (t *tarFiles) open(name string) (io.ReadCloser, error) {
	s, ok := t.entries[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, os.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, s.off, s.size)), nil
}

func (t *tarFiles) Close() error { return t.f.Close() }

func withoutPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// layout reads an OCI image layout (image-spec image-layout.md).
type layout struct {
	src   *Source
	files files
}

func openLayoutDir(src *Source) (blobSource, error) {
	fi, err := os.Stat(src.Path)
	if err != nil {
		return nil, withoutPath(err)
	}
	if !fi.IsDir() {
		return nil, errors.New("not a directory (an OCI archive is oci-archive:FILE)")
	}
	return &layout{src: src, files: dirFiles(src.Path)}, nil
}

func openLayoutArchive(src *Source) (blobSource, error) {
	t, err := openTarFiles(src.Path)
	if err != nil {
		return nil, err
	}
	return &layoutArchive{layout{src: src, files: t}, t}, nil
}

type layoutArchive struct {
	layout
	t *tarFiles
}

func (a *layoutArchive) Close() error { return a.t.Close() }

func blobName(d v1.Hash) (string, error) {
	if err := checkDigest(d.String()); err != nil {
		return "", err
	}
	return "blobs/" + d.Algorithm + "/" + d.Hex, nil
}

func (l *layout) readFile(name string, max int64) ([]byte, error) {
	rc, err := l.files.open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing (not an OCI image layout?)", name)
		}
		return nil, withoutPath(err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(raw)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return raw, nil
}

func (l *layout) top(ctx context.Context) ([]byte, types.MediaType, error) {
	if l.src.Digest != "" {
		d, err := v1.NewHash(l.src.Digest)
		if err != nil {
			return nil, "", err
		}
		return l.manifest(ctx, d)
	}
	raw, err := l.readFile("index.json", maxManifestSize)
	if err != nil {
		return nil, "", err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, "", fmt.Errorf("index.json: %w", oneLine(err))
	}
	desc, err := pickRef(idx.Manifests, l.src.RefName)
	if err != nil {
		return nil, "", err
	}
	raw, mt, err := l.manifest(ctx, desc.Digest)
	if mt == "" {
		mt = desc.MediaType
	}
	return raw, mt, err
}

// pickRef finds the image ref names in index.json; with no ref, the only
// image there.
func pickRef(ds []v1.Descriptor, ref string) (*v1.Descriptor, error) {
	var names []string
	for i, d := range ds {
		n := d.Annotations[refNameAnnotation]
		if ref != "" && n == ref {
			return &ds[i], nil
		}
		if n != "" {
			names = append(names, n)
		}
	}
	switch {
	case ref != "" && len(names) == 0:
		return nil, fmt.Errorf("no image named %q: index.json names none", clip.Safe(ref))
	case ref != "":
		return nil, fmt.Errorf("no image named %q (index.json has %s)", clip.Safe(ref), clip.Safe(strings.Join(names, ", ")))
	case len(ds) == 1:
		return &ds[0], nil
	case len(ds) == 0:
		return nil, errors.New("index.json lists no image")
	}
	return nil, fmt.Errorf("index.json lists %d images; name one (%s)", len(ds), clip.Safe(strings.Join(names, ", ")))
}

func (l *layout) manifest(ctx context.Context, d v1.Hash) ([]byte, types.MediaType, error) {
	bn, err := blobName(d)
	if err != nil {
		return nil, "", err
	}
	raw, err := l.readFile(bn, maxManifestSize)
	if err != nil {
		return nil, "", err
	}
	if err := checkSHA256(raw, d); err != nil {
		return nil, "", fmt.Errorf("manifest %s: %w", d, err)
	}
	var h mediaHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, "", fmt.Errorf("manifest %s: invalid JSON: %w", d, err)
	}
	return raw, h.MediaType, nil
}

func (l *layout) blob(ctx context.Context, d v1.Hash, size int64) (io.ReadCloser, error) {
	bn, err := blobName(d)
	if err != nil {
		return nil, err
	}
	rc, err := l.files.open(bn)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing", bn)
		}
		return nil, withoutPath(err)
	}
	return rc, nil
}

// dockerArchive reads a `docker save` tarball: manifest.json names each
// image's config and layer files. saturn makes an OCI manifest of it
// (layers as they are in the archive), so the image is stored like any
// other; the same archive always gives the same manifest and image id.
type dockerArchive struct {
	t   *tarFiles
	src *Source
	// repo and tag are the image's RepoTags entry (the one asked for,
	// or the only one), "" if it has none.
	repo, tag string
	man       []byte
	blobs     map[v1.Hash]string // digest -> file in the archive
}

type dockerSaveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func openDockerArchive(src *Source) (blobSource, error) {
	t, err := openTarFiles(src.Path)
	if err != nil {
		return nil, err
	}
	a := &dockerArchive{t: t, src: src, blobs: map[v1.Hash]string{}}
	if err := a.build(); err != nil {
		t.Close()
		return nil, err
	}
	return a, nil
}

func (a *dockerArchive) Close() error { return a.t.Close() }

func (a *dockerArchive) build() error {
	l := layout{files: a.t}
	raw, err := l.readFile("manifest.json", maxManifestSize)
	if err != nil {
		return errors.New("manifest.json is missing (not a docker save archive?)")
	}
	var entries []dockerSaveEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	e, err := pickRepoTag(entries, a.src.RefName)
	if err != nil {
		return err
	}
	if rt := a.src.RefName; rt != "" || len(e.RepoTags) == 1 {
		if rt == "" {
			rt = e.RepoTags[0]
		}
		if t, err := name.NewTag(rt); err == nil {
			a.repo, a.tag = repoString(t.Context()), t.TagStr()
		}
	}
	cfg, err := a.describe(e.Config, types.OCIConfigJSON)
	if err != nil {
		return err
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfg}
	for _, p := range e.Layers {
		d, err := a.describe(p, "")
		if err != nil {
			return err
		}
		m.Layers = append(m.Layers, d)
	}
	a.man, err = json.Marshal(m)
	return err
}

func pickRepoTag(entries []dockerSaveEntry, ref string) (*dockerSaveEntry, error) {
	if ref == "" {
		if len(entries) != 1 {
			return nil, fmt.Errorf("manifest.json lists %d images; name one as docker-archive:FILE:NAME:TAG", len(entries))
		}
		return &entries[0], nil
	}
	want, err := name.NewTag(ref)
	if err != nil {
		return nil, fmt.Errorf("image name %q: %w", clip.Safe(ref), oneLine(err))
	}
	for i, e := range entries {
		for _, rt := range e.RepoTags {
			if t, err := name.NewTag(rt); err == nil && t.String() == want.String() {
				return &entries[i], nil
			}
		}
	}
	return nil, fmt.Errorf("manifest.json has no image tagged %s", clip.Safe(ref))
}

// describe hashes the archive file p into a descriptor; a layer's media
// type follows its compression.
func (a *dockerArchive) describe(p string, mt types.MediaType) (v1.Descriptor, error) {
	p = path.Clean(strings.TrimPrefix(p, "/"))
	rc, err := a.t.open(p)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("manifest.json names %s, which the archive lacks", clip.Safe(p))
	}
	defer rc.Close()
	var head [4]byte
	n, _ := io.ReadFull(rc, head[:])
	if mt == "" {
		mt = types.OCIUncompressedLayer
		switch {
		case n >= 2 && head[0] == 0x1f && head[1] == 0x8b:
			mt = types.OCILayer
		case n == 4 && bytes.Equal(head[:], []byte{0x28, 0xb5, 0x2f, 0xfd}):
			mt = types.OCILayerZStd
		}
	}
	d, size, err := v1.SHA256(io.MultiReader(bytes.NewReader(head[:n]), rc))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("read %s: %w", clip.Safe(p), err)
	}
	a.blobs[d] = p
	return v1.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
}

func (a *dockerArchive) top(ctx context.Context) ([]byte, types.MediaType, error) {
	return a.man, types.OCIManifestSchema1, nil
}

func (a *dockerArchive) manifest(ctx context.Context, d v1.Hash) ([]byte, types.MediaType, error) {
	return nil, "", errors.New("a docker save archive holds no image index")
}

func (a *dockerArchive) blob(ctx context.Context, d v1.Hash, size int64) (io.ReadCloser, error) {
	p, ok := a.blobs[d]
	if !ok {
		return nil, fmt.Errorf("blob %s is not in the archive", d)
	}
	return a.t.open(p)
}
