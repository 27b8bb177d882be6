package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/saturn-pods/saturn/clip"
)

// Size limits of what is read into memory.
const (
	maxManifestSize = 4 << 20
	maxConfigSize   = 8 << 20
	maxLayers       = 256
)

// ErrDigest is wrapped by the errors for content that does not match the
// digest that names it.
var ErrDigest = errors.New("digest mismatch")

// Image is an image manifest with its config, resolved from a source
// and checked against their digests. Its layers are opened on demand.
type Image struct {
	Source *Source
	// Repository and Tag name the image as users know it: the source's
	// (see Source.Repository and Source.Tag), or the RepoTags entry of a
	// docker save archive.
	Repository, Tag string
	// Digest is the manifest's digest, MediaType its media type.
	Digest    v1.Hash
	MediaType types.MediaType
	// TopDigest is what the source's reference resolved to first: an
	// image index's digest, or Digest when there was no index.
	TopDigest v1.Hash
	Manifest  []byte
	Config    []byte
	// ConfigFile is Config parsed.
	ConfigFile *v1.ConfigFile
	Layers     []Layer

	blobs blobSource
}

// Layer describes one layer of an image.
type Layer struct {
	Digest      v1.Hash
	Size        int64
	MediaType   types.MediaType
	Compression Compression
	// DiffID is the digest of the layer's plain tar, from the config.
	DiffID v1.Hash
}

// ID is the image's appc image id: sha512- and the hex SHA-512 of the
// manifest's bytes.
func (img *Image) ID() string { return IDOf(img.Manifest) }

// OpenLayer opens the blob of layer i as stored at the source. The
// reader does not check the content: the caller hashes it.
func (img *Image) OpenLayer(ctx context.Context, i int) (io.ReadCloser, error) {
	l := img.Layers[i]
	rc, err := img.blobs.blob(ctx, l.Digest, l.Size)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	return rc, nil
}

// Close releases what the source holds open (an archive file).
func (img *Image) Close() error {
	if c, ok := img.blobs.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// blobSource is what resolving an image needs from a source.
type blobSource interface {
	// top returns the manifest (image or index) the source's reference
	// names, checked against its digest where one is known.
	top(ctx context.Context) (raw []byte, mt types.MediaType, err error)
	// manifest returns the manifest with digest d.
	manifest(ctx context.Context, d v1.Hash) (raw []byte, mt types.MediaType, err error)
	// blob opens the blob with digest d (size bytes, -1 if unknown).
	blob(ctx context.Context, d v1.Hash, size int64) (io.ReadCloser, error)
}

// Platform is the platform images are resolved to: linux and the
// architecture saturn runs on.
func Platform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// resolve reads the top manifest from b, picks the platform's manifest
// out of an index, and reads and checks the config.
func resolve(ctx context.Context, src *Source, b blobSource) (*Image, error) {
	raw, mt, err := b.top(ctx)
	if err != nil {
		return nil, err
	}
	img := &Image{Source: src, blobs: b, TopDigest: sha256Of(raw), Repository: src.Repository(), Tag: src.Tag()}
	if a, ok := b.(*dockerArchive); ok && a.repo != "" {
		img.Repository, img.Tag = a.repo, a.tag
	}
	if isIndex(raw, mt) {
		d, err := pickPlatform(raw)
		if err != nil {
			return nil, err
		}
		if raw, mt, err = b.manifest(ctx, d); err != nil {
			return nil, err
		}
		if isIndex(raw, mt) {
			return nil, fmt.Errorf("manifest %s: an index inside an index is not supported", d)
		}
	}
	img.Digest, img.Manifest, img.MediaType = sha256Of(raw), raw, mt
	m, err := parseManifest(raw, mt)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", img.Digest, err)
	}
	if img.MediaType == "" {
		img.MediaType = m.MediaType
	}
	if err := img.readConfig(ctx, m); err != nil {
		return nil, err
	}
	if err := img.setLayers(m); err != nil {
		return nil, fmt.Errorf("image %s: %w", img.Digest, err)
	}
	return img, nil
}

func sha256Of(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// mediaHeader is the part of a manifest or index that tells which it is.
type mediaHeader struct {
	MediaType types.MediaType `json:"mediaType"`
	Manifests json.RawMessage `json:"manifests"`
	Config    json.RawMessage `json:"config"`
}

func isIndex(raw []byte, mt types.MediaType) bool {
	switch mt {
	case types.OCIImageIndex, types.DockerManifestList:
		return true
	case "", "application/json", "text/plain":
		var h mediaHeader
		if json.Unmarshal(raw, &h) != nil {
			return false
		}
		return h.MediaType == types.OCIImageIndex || h.MediaType == types.DockerManifestList ||
			(h.MediaType == "" && h.Manifests != nil && h.Config == nil)
	}
	return false
}

func pickPlatform(raw []byte) (v1.Hash, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("image index: %w", oneLine(err))
	}
	want := Platform()
	var seen []string
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			continue
		}
		p := *d.Platform
		seen = append(seen, p.String())
		if p.OS == want.OS && p.Architecture == want.Architecture && (p.Variant == "" || want.Variant == "" || p.Variant == want.Variant) {
			if isIndex(nil, d.MediaType) {
				return v1.Hash{}, errors.New("image index: the platform's entry is another index, which is not supported")
			}
			return d.Digest, nil
		}
	}
	if len(seen) == 0 {
		return v1.Hash{}, fmt.Errorf("image index names no platform, and saturn needs a %s image", want.String())
	}
	return v1.Hash{}, fmt.Errorf("image index has no %s image (it has %s)", want.String(), clip.Safe(strings.Join(seen, ", ")))
}

func parseManifest(raw []byte, mt types.MediaType) (*v1.Manifest, error) {
	switch mt {
	case types.OCIManifestSchema1, types.DockerManifestSchema2, "", "application/json", "text/plain":
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		return nil, fmt.Errorf("schema 1 manifests (%s) are not supported; push the image again with a current tool", mt)
	default:
		return nil, fmt.Errorf("unknown manifest media type %q", mediaTypeString(mt))
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("invalid manifest: %w", oneLine(err))
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("unsupported manifest schemaVersion %d", m.SchemaVersion)
	}
	switch m.MediaType {
	case "", types.OCIManifestSchema1, types.DockerManifestSchema2:
	default:
		return nil, fmt.Errorf("unknown manifest media type %q", mediaTypeString(m.MediaType))
	}
	return m, nil
}

func (img *Image) readConfig(ctx context.Context, m *v1.Manifest) error {
	c := m.Config
	switch c.MediaType {
	case types.OCIConfigJSON, types.DockerConfigJSON:
	default:
		return fmt.Errorf("image %s: unknown config media type %q (not a container image?)", img.Digest, mediaTypeString(c.MediaType))
	}
	if c.Size < 0 || c.Size > maxConfigSize {
		return fmt.Errorf("image %s: config of %d bytes is too large", img.Digest, c.Size)
	}
	rc, err := img.blobs.blob(ctx, c.Digest, c.Size)
	if err != nil {
		return fmt.Errorf("config %s: %w", c.Digest, err)
	}
	defer rc.Close()
	raw, err := readDigested(rc, c.Digest, c.Size, maxConfigSize)
	if err != nil {
		return fmt.Errorf("config %s: %w", c.Digest, err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("config %s: invalid: %w", c.Digest, oneLine(err))
	}
	if cf.OS != "" && cf.OS != "linux" {
		return fmt.Errorf("image %s is for %s, not linux", img.Digest, clip.Safe(cf.OS))
	}
	if want := Platform().Architecture; cf.Architecture != "" && cf.Architecture != want {
		return fmt.Errorf("image %s is for %s, not %s", img.Digest, clip.Safe(cf.Architecture), want)
	}
	img.Config, img.ConfigFile = raw, cf
	return nil
}

func (img *Image) setLayers(m *v1.Manifest) error {
	if len(m.Layers) > maxLayers {
		return fmt.Errorf("%d layers, more than the %d saturn applies", len(m.Layers), maxLayers)
	}
	diffIDs := img.ConfigFile.RootFS.DiffIDs
	if len(diffIDs) != len(m.Layers) {
		return fmt.Errorf("manifest has %d layers but config has %d diff_ids", len(m.Layers), len(diffIDs))
	}
	for i, d := range m.Layers {
		c, err := LayerCompression(d.MediaType)
		if err != nil {
			return fmt.Errorf("layer %s: %w", d.Digest, err)
		}
		if d.Digest.Algorithm != "sha256" || diffIDs[i].Algorithm != "sha256" {
			return fmt.Errorf("layer %s: only sha256 digests are supported", d.Digest)
		}
		if d.Size < 0 {
			return fmt.Errorf("layer %s: negative size", d.Digest)
		}
		img.Layers = append(img.Layers, Layer{Digest: d.Digest, Size: d.Size, MediaType: d.MediaType, Compression: c, DiffID: diffIDs[i]})
	}
	return nil
}

// readDigested reads r whole (at most max bytes) and checks it against
// digest d and size (when not -1).
func readDigested(r io.Reader, d v1.Hash, size, max int64) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	if size >= 0 && int64(len(raw)) != size {
		return nil, fmt.Errorf("%w: %d bytes, the manifest says %d", ErrDigest, len(raw), size)
	}
	if err := checkSHA256(raw, d); err != nil {
		return nil, err
	}
	return raw, nil
}

func checkSHA256(raw []byte, d v1.Hash) error {
	if d.Algorithm != "sha256" {
		return fmt.Errorf("unsupported digest algorithm %q", clip.Safe(d.Algorithm))
	}
	if got := sha256Of(raw); got != d {
		return fmt.Errorf("%w: content hashes to %s", ErrDigest, got)
	}
	return nil
}

func mediaTypeString(mt types.MediaType) string {
	return clip.Safe(string(mt))
}
