package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/atomicfile"
	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/oci"
	"github.com/saturn-pods/saturn/untar"
)

// OCI images live beside ACIs: the images bucket indexes them by their
// appc image id (oci.IDOf the manifest) with the equivalent appc manifest
// as their manifest, so everything that works on image ids (pods, list,
// gc, rm, trees) works on them, and the record's OCI part keeps the
// manifest, config and layer digests. Layer blobs are kept once each, by
// digest, as they were distributed (compressed):
//
//	cas/layers/sha256-<hex>   one layer blob
//	layers bucket             digest -> what the layer was checked to be
//
// A layer blob is renamed into place and indexed in the transaction that
// indexes the first image using it, and dropped in the transaction that
// removes the last one, so, as for ACI blobs, blob files and the index
// never disagree.
var layersBucket = []byte("layers")

// ociRecord is the OCI part of an image record.
type ociRecord struct {
	Repository string   `json:"repository"`
	Tag        string   `json:"tag,omitempty"`
	Digest     string   `json:"digest"`    // the manifest's
	TopDigest  string   `json:"topDigest"` // what the reference resolved to first (an index)
	MediaType  string   `json:"mediaType,omitempty"`
	Manifest   []byte   `json:"manifest"`
	Config     []byte   `json:"config"`
	Layers     []string `json:"layers"` // digests, bottom first
}

// layerRecord is what the layers bucket keeps per layer blob.
type layerRecord struct {
	Size        int64  `json:"size"`
	MediaType   string `json:"mediaType"`
	DiffID      string `json:"diffID"`
	PlainSize   int64  `json:"plainSize"`
	FileSize    int64  `json:"fileSize"`
	Compression int    `json:"compression"`
	// Files are the layer's etc/passwd and etc/group, as oci.Scan found
	// them, for the user resolution of images that use the layer.
	Files oci.Files `json:"files,omitempty"`
}

// OCIImportOptions describe an OCI image import.
type OCIImportOptions struct {
	// Origin is the source the image came from (oci.Source.String()).
	Origin string
	// RemoteURL, when set, is recorded as a remote whose ETag is the
	// image's top digest, for pull-policy revalidation.
	RemoteURL string
	// Jobs is how many layers are downloaded at once (default 6).
	Jobs int
	// Log, when set, receives a line per layer downloaded.
	Log func(format string, a ...any)
}

func (s *Store) layerPath(d string) string {
	return filepath.Join(s.casDir, "layers", strings.Replace(d, ":", "-", 1))
}

// ImportOCI stores an image: each layer not stored yet is downloaded
// into a temp file while its digest, size, uncompressed digest (against
// the config's diff_id) and entries (oci.Scan) are checked, then all of
// it is indexed in one transaction. On any error nothing is stored. An
// image already stored is not downloaded again; its record is refreshed.
func (s *Store) ImportOCI(ctx context.Context, img *oci.Image, opts OCIImportOptions) (string, error) {
	id := img.ID()
	have, err := s.storedLayers(img)
	if err != nil {
		return "", err
	}
	temps := make([]*layerTemp, len(img.Layers))
	defer func() {
		for _, t := range temps {
			if t != nil {
				t.discard()
			}
		}
	}()
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = 6 // as skopeo: loopback and fast links gain, slow ones lose nothing
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for i, l := range img.Layers {
		if have[l.Digest.String()] != nil {
			continue
		}
		if first := firstIndex(img.Layers, l.Digest); first != i {
			continue // the same blob twice in one image
		}
		g.Go(func() error {
			t, err := s.downloadLayer(gctx, img, i)
			temps[i] = t
			if err == nil && opts.Log != nil {
				opts.Log("downloaded layer %s (%d bytes)", l.Digest, l.Size)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return "", fmt.Errorf("image %s: %w", clip.Safe(img.Source.String()), err)
	}
	rec, err := s.ociImageRecord(img, have, temps)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", clip.Safe(img.Source.String()), err)
	}
	if err := s.commitOCI(id, rec, temps, opts); err != nil {
		return "", fmt.Errorf("image %s: %w", clip.Safe(img.Source.String()), err)
	}
	return id, nil
}

func firstIndex(ls []oci.Layer, d v1.Hash) int {
	for i, l := range ls {
		if l.Digest == d {
			return i
		}
	}
	return -1
}

// storedLayers returns the records of the image's layers already stored.
func (s *Store) storedLayers(img *oci.Image) (map[string]*layerRecord, error) {
	have := map[string]*layerRecord{}
	err := s.view(func(tx *bolt.Tx) error {
		for _, l := range img.Layers {
			if r, err := getLayer(tx, l.Digest.String()); err == nil && r != nil {
				have[l.Digest.String()] = r
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	return have, err
}

func getLayer(tx *bolt.Tx, d string) (*layerRecord, error) {
	b := tx.Bucket(layersBucket)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(d))
	if v == nil {
		return nil, nil
	}
	var r layerRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("layer %s: damaged index record: %w", d, err)
	}
	return &r, nil
}

// layerTemp is a downloaded, checked layer waiting for the commit.
type layerTemp struct {
	f   *os.File
	rec layerRecord
}

func (t *layerTemp) discard() {
	os.Remove(t.f.Name())
	t.f.Close()
}

// downloadLayer streams layer i into a locked temp file, hashing the
// blob as it comes and, on another goroutine, decompressing and
// scanning it, so a bad layer is refused before anything is stored.
func (s *Store) downloadLayer(ctx context.Context, img *oci.Image, i int) (*layerTemp, error) {
	l := img.Layers[i]
	f, err := s.lockedTemp()
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	t := &layerTemp{f: f}
	if err := s.fillLayer(ctx, img, i, t); err != nil {
		t.discard()
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	return t, nil
}

func (s *Store) fillLayer(ctx context.Context, img *oci.Image, i int, t *layerTemp) error {
	l := img.Layers[i]
	rc, err := img.OpenLayer(ctx, i)
	if err != nil {
		return err
	}
	defer rc.Close()
	// One pass, one goroutine: what the decompressor pulls from the
	// download is written to the temp file and hashed on the way.
	bw := bufio.NewWriterSize(t.f, writeBufSize)
	h := sha256.New()
	blob := &readCounter{r: bufio.NewReaderSize(io.LimitReader(rc, l.Size+1), writeBufSize)}
	tee := io.TeeReader(blob, io.MultiWriter(bw, h))
	var res struct {
		plain          string
		size, fileSize int64
		files          oci.Files
		err            error
	}
	zr, err := oci.DecompressSerial(l.Compression, tee)
	if err == nil {
		ph := sha256.New()
		var sc *oci.Scanned
		sc, res.err = oci.Scan(io.TeeReader(zr, ph), oci.UserFiles, s.maxImageSize())
		if sc != nil {
			res.size, res.fileSize, res.files = sc.TarSize, sc.FileSize, sc.Files
		}
		zr.Close()
		res.plain = "sha256:" + hex.EncodeToString(ph.Sum(nil))
	} else {
		res.err = err
	}
	// The blob is read to its end even when the scan stopped early, so a
	// damaged blob is reported as such rather than by what it broke.
	if _, err := io.CopyBuffer(io.Discard, tee, make([]byte, 256<<10)); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if err := checkBlob(l, blob.n, h); err != nil {
		return err
	}
	if res.err != nil {
		return res.err
	}
	if res.plain != l.DiffID.String() {
		return fmt.Errorf("%w: its content hashes to %s, the image config says %s", oci.ErrDigest, res.plain, l.DiffID)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	t.rec = layerRecord{Size: l.Size, MediaType: string(l.MediaType), DiffID: l.DiffID.String(),
		PlainSize: res.size, FileSize: res.fileSize, Compression: int(l.Compression), Files: res.files}
	return nil
}

// readCounter counts the bytes read through it.
type readCounter struct {
	r io.Reader
	n int64
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// maxImageSize is the bound on an image's expanded size.
func (s *Store) maxImageSize() int64 {
	if s.MaxImageSize > 0 {
		return s.MaxImageSize
	}
	return aci.DefaultMaxSize
}

func checkBlob(l oci.Layer, n int64, h hash.Hash) error {
	switch {
	case n < l.Size:
		return fmt.Errorf("truncated: %d of %d bytes", n, l.Size)
	case n > l.Size:
		return fmt.Errorf("%w: longer than the %d bytes the manifest says", oci.ErrDigest, l.Size)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != l.Digest.String() {
		return fmt.Errorf("%w: content hashes to %s", oci.ErrDigest, got)
	}
	return nil
}

// ociImageRecord builds the index record of img: its appc manifest, with
// the user resolved in the files of all its layers.
func (s *Store) ociImageRecord(img *oci.Image, have map[string]*layerRecord, temps []*layerTemp) (*imageRecord, error) {
	files := oci.Files{}
	var size, fileSize int64
	var digests []string
	for _, l := range img.Layers {
		r := layerRec(l.Digest, img.Layers, have, temps)
		files.Merge(r.Files)
		size += r.PlainSize
		fileSize += r.FileSize
		digests = append(digests, l.Digest.String())
	}
	if max := s.maxImageSize(); size > max || fileSize > max {
		return nil, oci.TooLarge(max)
	}
	m, err := oci.AppcManifest(img.ConfigFile, oci.AppcOptions{Repository: img.Repository, Tag: img.Tag, Files: files})
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	rec := &imageRecord{
		Name: img.Repository, Labels: map[string]string{}, Size: size, Manifest: raw,
		OCI: &ociRecord{
			Repository: img.Repository, Tag: img.Tag, Digest: img.Digest.String(), TopDigest: img.TopDigest.String(),
			MediaType: string(img.MediaType), Manifest: img.Manifest, Config: img.Config, Layers: digests,
		},
	}
	for _, l := range m.Labels {
		rec.Labels[string(l.Name)] = l.Value
	}
	return rec, nil
}

func layerRec(d v1.Hash, ls []oci.Layer, have map[string]*layerRecord, temps []*layerTemp) *layerRecord {
	if r := have[d.String()]; r != nil {
		return r
	}
	return &temps[firstIndex(ls, d)].rec
}

// commitOCI moves the new layer blobs into place and indexes them and
// the image in one transaction.
func (s *Store) commitOCI(id string, rec *imageRecord, temps []*layerTemp, opts OCIImportOptions) error {
	if err := os.MkdirAll(filepath.Join(s.casDir, "layers"), 0o700); err != nil {
		return err
	}
	now := time.Now()
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(layersBucket)
		if err != nil {
			return err
		}
		moved := false
		for _, d := range rec.OCI.Layers {
			r, err := getLayer(tx, d)
			if err != nil {
				return err
			}
			if r != nil {
				continue
			}
			t := tempFor(d, rec.OCI.Layers, temps)
			if t == nil {
				return fmt.Errorf("layer %s was removed (image gc?) while this image was fetched; fetch it again", d)
			}
			if err := os.Rename(t.f.Name(), s.layerPath(d)); err != nil {
				return err
			}
			v, err := json.Marshal(&t.rec)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(d), v); err != nil {
				return err
			}
			moved = true
		}
		if moved {
			if err := syncDir(filepath.Join(s.casDir, "layers")); err != nil {
				return err
			}
		}
		rec.ImportTime, rec.LastUsed, rec.Origin = now, now, opts.Origin
		if old, err := getImage(tx, id); err == nil {
			rec.ImportTime = old.ImportTime
		}
		if err := putImage(tx, id, rec); err != nil {
			return err
		}
		if opts.RemoteURL == "" {
			return nil
		}
		return putRemote(tx, Remote{URL: opts.RemoteURL, ImageID: id, ETag: rec.OCI.TopDigest, DownloadTime: now})
	})
}

func tempFor(d string, ds []string, temps []*layerTemp) *layerTemp {
	for i, x := range ds {
		if x == d && temps[i] != nil {
			return temps[i]
		}
	}
	return nil
}

// OCIImage is what the store keeps of an OCI image beside its appc
// manifest.
type OCIImage struct {
	Repository, Tag, Digest, TopDigest string
	Manifest, Config                   []byte
	Layers                             []string
}

// OCI returns the OCI part of image id, nil for an ACI.
func (s *Store) OCI(id string) (*OCIImage, error) {
	var out *OCIImage
	err := s.view(func(tx *bolt.Tx) error {
		r, err := getImage(tx, id)
		if err != nil || r.OCI == nil {
			return err
		}
		o := r.OCI
		out = &OCIImage{Repository: o.Repository, Tag: o.Tag, Digest: o.Digest, TopDigest: o.TopDigest,
			Manifest: o.Manifest, Config: o.Config, Layers: o.Layers}
		return nil
	})
	return out, err
}

// FindOCI returns the newest stored OCI image that src names: by its
// manifest or top digest when src has one, else by repository and tag or
// by having been imported from src.
func (s *Store) FindOCI(src *oci.Source) (string, error) {
	repository, tag, digest, origin := src.Repository(), src.Tag(), src.Digest, src.String()
	var best string
	var bestTime time.Time
	err := s.view(func(tx *bolt.Tx) error {
		return forEachImage(tx, func(id string, r *imageRecord) error {
			o := r.OCI
			if o == nil {
				return nil
			}
			match := digest != "" && (o.Digest == digest || o.TopDigest == digest)
			if digest == "" {
				match = (o.Repository == repository && o.Tag == tag) || r.Origin == origin
			}
			if match && (best == "" || r.ImportTime.After(bestTime)) {
				best, bestTime = id, r.ImportTime
			}
			return nil
		})
	})
	if err == nil && best == "" {
		err = ErrNotFound
	}
	return best, err
}

// resolveOCI resolves a docker://, oci:, oci-archive: or docker-archive:
// reference against the store.
func (s *Store) resolveOCI(ref string) (string, error) {
	src, err := oci.ParseSource(ref)
	if err != nil {
		return "", err
	}
	id, err := s.FindOCI(src)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", clip.Safe(src.String()), err)
	}
	return id, nil
}

// renderOCI lays the image out in dest: dest/manifest is its appc
// manifest, dest/rootfs its layers applied in order, each blob checked
// against its digest as it is read.
func (s *Store) renderOCI(id string, rec *imageRecord, dest string, opts aci.RenderOptions) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteSync(filepath.Join(dest, "manifest"), rec.Manifest, 0o644); err != nil {
		return fmt.Errorf("render %s: %w", id, err)
	}
	tree, err := untar.Open(filepath.Join(dest, "rootfs"), untar.Options{Overwrite: true, HostSafe: opts.HostSafe})
	if err != nil {
		return fmt.Errorf("render %s: %w", id, err)
	}
	defer tree.Close()
	for _, d := range rec.OCI.Layers {
		if err := s.applyLayer(tree, d); err != nil {
			return fmt.Errorf("render %s: layer %s: %w", id, d, err)
		}
	}
	if err := tree.Finish(); err != nil {
		return fmt.Errorf("render %s: %w", id, err)
	}
	return nil
}

func (s *Store) applyLayer(tree *untar.Tree, d string) error {
	var lr *layerRecord
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		lr, err = getLayer(tx, d)
		return err
	})
	if err != nil {
		return err
	}
	if lr == nil {
		return fmt.Errorf("not in the store: %w", ErrCorrupt)
	}
	rc, err := s.openLayer(d)
	if err != nil {
		return err
	}
	zr, err := oci.Decompress(oci.Compression(lr.Compression), rc)
	if err != nil {
		rc.Close()
		return err
	}
	err = oci.Apply(tree, zr)
	zr.Close()
	// Closing hashes what Apply left unread and reports a damaged blob,
	// which explains a failed Apply best.
	if cerr := rc.Close(); cerr != nil {
		return cerr
	}
	return err
}

// openLayer opens a layer blob whose reader checks it against its
// digest: reading to the end or closing reports ErrCorrupt.
func (s *Store) openLayer(d string) (io.ReadCloser, error) {
	f, err := os.Open(s.layerPath(d))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("blob missing from %s: %w", filepath.Dir(s.layerPath(d)), ErrCorrupt)
		}
		return nil, err
	}
	return &digestReader{f: f, want: d, h: sha256.New()}, nil
}

type digestReader struct {
	f    *os.File
	want string
	h    hash.Hash
	err  error
	eof  bool
}

func (r *digestReader) Read(p []byte) (int, error) {
	if r.eof {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		r.eof, r.err = true, r.check()
		if r.err != nil {
			return n, r.err
		}
	}
	return n, err
}

func (r *digestReader) check() error {
	if got := "sha256:" + hex.EncodeToString(r.h.Sum(nil)); got != r.want {
		return fmt.Errorf("layer blob hashes to %s: %w; remove the image with 'saturn image rm' and fetch it again", got, ErrCorrupt)
	}
	return nil
}

func (r *digestReader) Close() error {
	defer r.f.Close()
	if !r.eof {
		if _, err := io.CopyBuffer(r.h, r.f, make([]byte, 256<<10)); err != nil {
			return err
		}
		r.eof, r.err = true, r.check()
	}
	return r.err
}

// verifyOCI checks a stored OCI image: its id against its manifest, the
// manifest's digest, the config against the manifest, every layer blob
// against its digest.
func (s *Store) verifyOCI(id string, o *ociRecord) error {
	if oci.IDOf(o.Manifest) != id {
		return fmt.Errorf("image %s: stored manifest does not match the image id: %w", id, ErrCorrupt)
	}
	if got := sha256Hex(o.Manifest); got != o.Digest {
		return fmt.Errorf("image %s: stored manifest hashes to %s, not %s: %w", id, got, o.Digest, ErrCorrupt)
	}
	var m v1.Manifest
	if err := json.Unmarshal(o.Manifest, &m); err != nil {
		return fmt.Errorf("image %s: stored manifest: %w: %w", id, err, ErrCorrupt)
	}
	if got := sha256Hex(o.Config); got != m.Config.Digest.String() {
		return fmt.Errorf("image %s: stored config hashes to %s, not %s: %w", id, got, m.Config.Digest, ErrCorrupt)
	}
	for _, d := range o.Layers {
		rc, err := s.openLayer(d)
		if err != nil {
			return fmt.Errorf("image %s: layer %s: %w", id, d, err)
		}
		_, err = io.CopyBuffer(io.Discard, rc, make([]byte, writeBufSize))
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("image %s: layer %s: %w", id, d, err)
		}
	}
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// dropUnusedLayers removes from the index, in tx, the layers that no
// image uses any more, and returns their digests; their files go after
// the commit (removeLayerFiles).
func dropUnusedLayers(tx *bolt.Tx) ([]string, error) {
	b := tx.Bucket(layersBucket)
	if b == nil {
		return nil, nil
	}
	used := map[string]bool{}
	err := forEachImage(tx, func(_ string, r *imageRecord) error {
		if r.OCI != nil {
			for _, d := range r.OCI.Layers {
				used[d] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var unused []string
	err = b.ForEach(func(k, _ []byte) error {
		if !used[string(k)] {
			unused = append(unused, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, d := range unused {
		if err := b.Delete([]byte(d)); err != nil {
			return nil, err
		}
	}
	return unused, nil
}

func (s *Store) removeLayerFiles(ds []string) error {
	var first error
	for _, d := range ds {
		if err := os.Remove(s.layerPath(d)); err != nil && !os.IsNotExist(err) && first == nil {
			first = fmt.Errorf("remove layer %s: %w", d, err)
		}
	}
	return first
}

// gcLayerFiles removes layer files the index does not list (a crashed
// commit's or removal's); the caller holds the index lock (in tx).
func (s *Store) gcLayerFiles(tx *bolt.Tx) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.casDir, "layers"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b := tx.Bucket(layersBucket)
	var removed []string
	for _, e := range ents {
		d := strings.Replace(e.Name(), "-", ":", 1)
		if b != nil && b.Get([]byte(d)) != nil {
			continue
		}
		p := filepath.Join(s.casDir, "layers", e.Name())
		if err := os.Remove(p); err != nil {
			return removed, err
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// record returns the index record of image id.
func (s *Store) record(id string) (*imageRecord, error) {
	var rec *imageRecord
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		rec, err = getImage(tx, id)
		return err
	})
	return rec, err
}
