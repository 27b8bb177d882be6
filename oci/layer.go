package oci

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/saturn-pods/saturn/untar"
)

// Whiteout names of the OCI image spec (layer.md).
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh." // aufs bookkeeping; only the opaque marker counts
	opaqueMarker   = ".wh..wh..opq"
)

// Compression of a layer blob.
type Compression int

// Layer compressions.
const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

// LayerCompression returns the compression a layer media type says, or
// an error for a media type that is not a layer saturn can apply.
func LayerCompression(mt types.MediaType) (Compression, error) {
	switch mt {
	case types.OCIUncompressedLayer, types.OCIUncompressedRestrictedLayer, "application/vnd.docker.image.rootfs.diff.tar":
		return Uncompressed, nil
	case types.OCILayer, types.OCIRestrictedLayer, types.DockerLayer, types.DockerForeignLayer:
		return Gzip, nil
	case types.OCILayerZStd, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
		return Zstd, nil
	}
	return 0, fmt.Errorf("unknown layer media type %q", mediaTypeString(mt))
}

// decompressBuf is the read-ahead of a layer decompressor.
const decompressBuf = 1 << 20

// Decompress returns the plain tar of a layer blob read from r.
func Decompress(c Compression, r io.Reader) (io.ReadCloser, error) {
	switch c {
	case Gzip:
		zr, err := pgzip.NewReaderN(bufio.NewReaderSize(r, decompressBuf), decompressBuf, 4)
		if err != nil {
			return nil, fmt.Errorf("gzip layer: %w", err)
		}
		return zr, nil
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd layer: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

// DecompressSerial is Decompress without read-ahead goroutines: the
// caller owns r alone again once the reader is closed, and a pipeline
// that already keeps the cores busy (a download being written and hashed)
// saves the hand-offs.
func DecompressSerial(c Compression, r io.Reader) (io.ReadCloser, error) {
	if c == Gzip {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip layer: %w", err)
		}
		return zr, nil
	}
	return Decompress(c, r)
}

// entry is one checked layer entry.
type entry struct {
	name     string // the clean entry name, root-relative
	rel      string // root-relative, "" for the root
	whiteout string // the path a whiteout removes, "" if none
	opaque   bool   // rel is the directory an opaque marker empties
	skip     bool   // aufs bookkeeping, ignored
	link     string // root-relative hard link target
}

// layerName cleans an entry or link name: "..", NUL and empty names are
// refused; a leading "/" is dropped, as every name is taken relative to
// the root anyway.
func layerName(raw string) (string, error) {
	name, err := untar.CleanName(raw)
	if err != nil {
		return "", err
	}
	name = strings.TrimLeft(name, "/")
	if name == "." {
		name = ""
	}
	return name, nil
}

// checkEntry checks hdr and classifies it.
func checkEntry(hdr *tar.Header) (entry, error) {
	rel, err := layerName(hdr.Name)
	if err != nil {
		return entry{}, err
	}
	e := entry{name: rel, rel: rel}
	if err := untar.CheckLengths(rel, hdr); err != nil {
		return entry{}, err
	}
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case base == opaqueMarker:
		e.rel, e.opaque = dir, true
		return e, nil
	case strings.HasPrefix(base, whiteoutMeta):
		e.skip = true
		return e, nil
	case strings.HasPrefix(base, whiteoutPrefix):
		gone := base[len(whiteoutPrefix):]
		if gone == "" || gone == "." {
			return entry{}, fmt.Errorf("entry %q: whiteout of nothing", hdr.Name)
		}
		e.whiteout = path.Join(dir, gone)
		return e, nil
	}
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeLink:
		if e.link, err = layerName(hdr.Linkname); err != nil {
			return entry{}, fmt.Errorf("hard link %q: target: %w", hdr.Name, err)
		}
		if e.link == "" || e.link == rel {
			return entry{}, fmt.Errorf("hard link %q points to %q", hdr.Name, hdr.Linkname)
		}
	default:
		return entry{}, fmt.Errorf("entry %q has unsupported type %q", hdr.Name, hdr.Typeflag)
	}
	if rel == "" && hdr.Typeflag != tar.TypeDir {
		return entry{}, fmt.Errorf("entry %q: the root is not a directory", hdr.Name)
	}
	return e, nil
}

// Apply applies one layer, given as its plain tar, to the tree t (lower
// layers already applied): whiteouts remove what lower layers made, an
// opaque marker empties its directory of lower layers' content, other
// entries are written over what is there. A whiteout never removes what
// its own layer holds.
func Apply(t *untar.Tree, plain io.Reader) error {
	a := &applier{t: t, own: map[string]bool{}}
	tr := tar.NewReader(plain)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return tarError(err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return err
		}
	}
}

type applier struct {
	t   *untar.Tree
	own map[string]bool // paths this layer wrote, and their parents
}

func (a *applier) entry(hdr *tar.Header, body io.Reader) error {
	e, err := checkEntry(hdr)
	if err != nil {
		return fmt.Errorf("invalid layer: %w", err)
	}
	switch {
	case e.skip:
		return nil
	case e.opaque:
		return a.clearLower(e.rel)
	case e.whiteout != "":
		if a.own[e.whiteout] {
			// What the layer wrote stays; only lower content goes.
			return a.clearLower(e.whiteout)
		}
		return a.t.Remove(e.whiteout)
	}
	if e.link != "" {
		h := *hdr
		h.Linkname = e.link
		hdr = &h
	}
	if err := a.t.Entry(e.rel, hdr, body); err != nil {
		return layerError(err)
	}
	for p := e.rel; p != "" && !a.own[p]; p = parent(p) {
		a.own[p] = true
	}
	return nil
}

func (a *applier) clearLower(dir string) error {
	return a.t.RemoveBelow(dir, func(rel string) bool { return a.own[rel] })
}

func parent(p string) string {
	d := path.Dir(p)
	if d == "." {
		return ""
	}
	return d
}

func tarError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("invalid layer: %w: %w", untar.ErrTruncated, err)
	}
	return fmt.Errorf("invalid layer: %w", err)
}

func layerError(err error) error {
	if errors.Is(err, untar.ErrTruncated) {
		return fmt.Errorf("invalid layer: %w", err)
	}
	return err
}

// maxScanFile bounds a file Scan keeps (a passwd or group file).
const maxScanFile = 1 << 20

// Files is what a layer said about the files Scan was asked to keep:
// their content, or that the layer removed them.
type Files map[string][]byte

// ErrTooLarge is wrapped by the error for a layer or image that expands
// beyond its bound.
var ErrTooLarge = errors.New("image too large")

// Scanned is what Scan learnt of a layer.
type Scanned struct {
	// TarSize is the plain tar's length; FileSize the sum of its
	// regular files' sizes (a sparse file's logical size counts).
	TarSize, FileSize int64
	// Files maps each root-relative path of Scan's keep that the layer
	// writes as a regular file to its content; one the layer removes
	// (or replaces with another type) maps to nil.
	Files Files
}

// Scan reads a layer's plain tar to its end and checks every entry as
// Apply would find it (names, lengths, types, hard link targets,
// whiteouts), and refuses an entry below a symlink of the same layer and
// a layer whose tar or files add up to more than max bytes (max > 0),
// stopping as soon as it does.
func Scan(plain io.Reader, keep []string, max int64) (*Scanned, error) {
	cr := &countingReader{r: plain, max: max}
	tr := tar.NewReader(cr)
	var guard untar.SymlinkGuard
	res := &Scanned{Files: Files{}}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, tarError(err)
		}
		e, err := checkEntry(hdr)
		if err != nil {
			return nil, fmt.Errorf("invalid layer: %w", err)
		}
		if err := guard.Check(e.name, hdr); err != nil {
			return nil, fmt.Errorf("invalid layer: %w", err)
		}
		if hdr.Typeflag == tar.TypeReg {
			res.FileSize += hdr.Size
			if max > 0 && res.FileSize > max {
				return nil, TooLarge(max)
			}
		}
		if err := keepFile(res.Files, keep, e, hdr, tr); err != nil {
			return nil, err
		}
	}
	// Read what follows the end-of-archive marker too, so the caller's
	// digests cover the whole blob.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, tarError(err)
	}
	res.TarSize = cr.n
	return res, nil
}

// TooLarge is the error for what expands beyond max bytes.
func TooLarge(max int64) error {
	return fmt.Errorf("invalid layer: %w: it expands to more than %d bytes (see --max-image-size)", ErrTooLarge, max)
}

func keepFile(files Files, keep []string, e entry, hdr *tar.Header, body io.Reader) error {
	for _, k := range keep {
		switch {
		case e.opaque && strings.HasPrefix(k, e.rel+"/"), e.whiteout == k:
			files[k] = nil
		case e.rel == k && !e.opaque && e.whiteout == "" && !e.skip:
			if hdr.Typeflag != tar.TypeReg || hdr.Size > maxScanFile {
				files[k] = nil
				continue
			}
			data, err := io.ReadAll(body)
			if err != nil {
				return tarError(err)
			}
			files[k] = data
		}
	}
	return nil
}

// countingReader counts what is read through it and, with max > 0,
// fails once more than max bytes came.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.max > 0 && c.n > c.max {
		return n, TooLarge(c.max)
	}
	return n, err
}
