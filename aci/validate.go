package aci

import (
	"archive/tar"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/appc/spec/schema"

	"github.com/saturn-pods/saturn/untar"
)

// Image is what Validate learns about an ACI.
type Image struct {
	Manifest *schema.ImageManifest
	ID       string
	Size     int64 // bytes of the uncompressed tar
}

// MaxManifestSize bounds the memory a hostile archive can make us spend
// on its manifest; pod manifests given to stage0 have the same bound.
const MaxManifestSize = 16 << 20

// DefaultMaxSize is the bound on an image's expanded size when none is
// configured: generous for real images, it stops a compressed archive a
// few megabytes long from filling the store's disk.
const DefaultMaxSize int64 = 64 << 30

// ErrTooLarge is wrapped by the error for an image that expands beyond its
// bound.
var ErrTooLarge = errors.New("image too large")

// ValidateOptions tune Validate.
type ValidateOptions struct {
	// MaxSize bounds the image's expanded size: its uncompressed tar and
	// the sum of its files' sizes (a sparse file's logical size counts).
	// Zero is DefaultMaxSize.
	MaxSize int64
}

// Validate reads a whole ACI of any supported compression once: it checks
// every entry's name, type and path length, parses the manifest and
// computes the image id and uncompressed size, which must stay within
// DefaultMaxSize.
func Validate(r io.Reader) (*Image, error) {
	return ValidateWith(r, ValidateOptions{})
}

// ValidateWith is Validate with options.
func ValidateWith(r io.Reader, opts ValidateOptions) (*Image, error) {
	plain, _, err := Decompress(r)
	if err != nil {
		return nil, err
	}
	defer plain.Close()
	max := opts.MaxSize
	if max <= 0 {
		max = DefaultMaxSize
	}
	hr := &hashReader{r: plain, h: sha512.New(), max: max}
	v := newValidator()
	v.maxSize = max
	tr := tar.NewReader(hr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, tarError(err)
		}
		if err := v.entry(hdr, tr); err != nil {
			return nil, err
		}
	}
	if v.manifest == nil {
		return nil, errors.New("invalid ACI: missing manifest")
	}
	if !v.rootfs {
		return nil, errors.New("invalid ACI: missing rootfs")
	}
	// The id covers the whole stream, including the end-of-archive blocks
	// the tar reader does not consume.
	if _, err := io.CopyBuffer(io.Discard, hr, make([]byte, 64<<10)); err != nil {
		return nil, tarError(err)
	}
	return &Image{Manifest: v.manifest, ID: idOf(hr.h), Size: hr.n}, nil
}

// ReadManifest returns the image manifest of an ACI of any supported
// compression. It stops reading as soon as it has found the manifest.
func ReadManifest(r io.Reader) (*schema.ImageManifest, error) {
	plain, _, err := Decompress(r)
	if err != nil {
		return nil, err
	}
	defer plain.Close()
	v := newValidator()
	tr := tar.NewReader(plain)
	for v.manifest == nil {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("invalid ACI: missing manifest")
		}
		if err != nil {
			return nil, tarError(err)
		}
		if err := v.entry(hdr, tr); err != nil {
			return nil, err
		}
	}
	return v.manifest, nil
}

func tarError(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("invalid ACI: truncated tar archive: %w", err)
	}
	return fmt.Errorf("invalid ACI: corrupt archive: %w", err)
}

// hashReader hashes and counts everything read through it, so the image
// id is computed in the same pass that parses the archive.
type hashReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	max int64 // 0: no bound (ReadManifest)
}

func (hr *hashReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	if n > 0 {
		hr.h.Write(p[:n])
		hr.n += int64(n)
	}
	if hr.max > 0 && hr.n > hr.max {
		return n, tooLarge(hr.max)
	}
	return n, err
}

func tooLarge(max int64) error {
	return fmt.Errorf("invalid ACI: %w: it expands to more than %s", ErrTooLarge, SizeString(max))
}

// SizeString writes n bytes in the largest binary unit that divides it
// ("64GiB"), or in bytes.
func SizeString(n int64) string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"PiB", 50}, {"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

type validator struct {
	manifest *schema.ImageManifest
	rootfs   bool            // a rootfs entry or an entry below it was seen
	seen     map[string]byte // type of each rootfs entry so far
	maxSize  int64           // 0: no bound
	files    int64           // sum of the regular files' sizes so far
}

func newValidator() *validator {
	return &validator{seen: map[string]byte{}}
}

func (v *validator) entry(hdr *tar.Header, tr io.Reader) error {
	name, err := EntryName(hdr.Name)
	if err != nil {
		return err
	}
	switch name {
	case ".":
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("invalid ACI: entry %q is not a directory", hdr.Name)
		}
		return nil
	case ManifestName:
		return v.readManifest(hdr, tr)
	}
	if err := checkEntryType(name, hdr); err != nil {
		return err
	}
	if err := checkLengths(name, hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg {
		v.files += hdr.Size
		if v.maxSize > 0 && v.files > v.maxSize {
			return tooLarge(v.maxSize)
		}
	}
	if _, dup := v.seen[name]; dup {
		return fmt.Errorf("invalid ACI: duplicate entry %s", hdr.Name)
	}
	typ := hdr.Typeflag
	if typ == tar.TypeLink {
		target, err := EntryName(hdr.Linkname)
		if err != nil || !strings.HasPrefix(target, RootfsName+"/") {
			return fmt.Errorf("invalid ACI: hardlink %s points outside rootfs (%q)", hdr.Name, hdr.Linkname)
		}
		ttyp, ok := v.seen[target]
		if !ok {
			return fmt.Errorf("invalid ACI: hardlink %s points to %q, which is not earlier in the archive", hdr.Name, hdr.Linkname)
		}
		if ttyp == tar.TypeDir {
			return fmt.Errorf("invalid ACI: hardlink %s points to directory %q", hdr.Name, hdr.Linkname)
		}
		typ = ttyp
	}
	v.seen[name] = typ
	v.rootfs = true
	return nil
}

func (v *validator) readManifest(hdr *tar.Header, tr io.Reader) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("invalid ACI: manifest is not a regular file")
	}
	if v.manifest != nil {
		return fmt.Errorf("invalid ACI: more than one manifest")
	}
	if hdr.Size > MaxManifestSize {
		return fmt.Errorf("invalid ACI: manifest too large (%d bytes)", hdr.Size)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return tarError(err)
	}
	im, err := ParseManifest(data)
	if err != nil {
		return fmt.Errorf("invalid ACI: %w", err)
	}
	v.manifest = im
	return nil
}

// ParseManifest parses and validates image manifest JSON. Its errors are
// one line, unlike the multi-line excerpts appc's decoder produces.
func ParseManifest(data []byte) (*schema.ImageManifest, error) {
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("invalid image manifest: bad JSON at byte %d: %w", se.Offset, err)
		}
		return nil, fmt.Errorf("invalid image manifest: %w", err)
	}
	im := new(schema.ImageManifest)
	if err := unmarshalImageManifest(im, data); err != nil {
		return nil, fmt.Errorf("invalid image manifest: %s", strings.Join(strings.Fields(err.Error()), " "))
	}
	// appc's decoder lets a few invalid values through (a label without a
	// name) that its encoder then refuses; whatever cannot be written back
	// is not a valid manifest either.
	if _, err := im.MarshalJSON(); err != nil {
		return nil, fmt.Errorf("invalid image manifest: %w", err)
	}
	return im, nil
}

// unmarshalImageManifest decodes an image manifest from the network.
// appc's isolator decoder (v0.8.11) dereferences a missing "value" and
// panics; a downloaded image must get an error instead.
func unmarshalImageManifest(im *schema.ImageManifest, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("appc's decoder failed (an isolator without a value?): %v", r)
		}
	}()
	return im.UnmarshalJSON(data)
}

// EntryName returns the clean form of an archive entry name ("./rootfs/a/"
// becomes "rootfs/a") and rejects names that are absolute, climb out with
// "..", or lie outside manifest and rootfs. The archive's top directory
// ("./", as `tar -C dir .` writes it) comes back as ".".
func EntryName(raw string) (string, error) {
	if strings.HasPrefix(raw, "/") {
		return "", fmt.Errorf("invalid ACI: absolute entry name %q", raw)
	}
	name, err := untar.CleanName(raw)
	if err != nil {
		return "", fmt.Errorf("invalid ACI: %w", err)
	}
	if name != "." && name != ManifestName && name != RootfsName && !strings.HasPrefix(name, RootfsName+"/") {
		return "", fmt.Errorf("invalid ACI: entry %q outside manifest and rootfs/", raw)
	}
	return name, nil
}

// checkLengths refuses an entry that no rendered tree can hold (see
// untar.CheckLengths). A tree holding one would fail at render, or in
// the pod.
func checkLengths(name string, hdr *tar.Header) error {
	if err := untar.CheckLengths(strings.TrimPrefix(name, RootfsName), hdr); err != nil {
		return fmt.Errorf("invalid ACI: %w", err)
	}
	return nil
}

func checkEntryType(name string, hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeDir:
		return nil
	case tar.TypeReg, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if name == RootfsName {
			return fmt.Errorf("invalid ACI: rootfs is not a directory")
		}
		return nil
	}
	return fmt.Errorf("invalid ACI: entry %s has unsupported type %q", hdr.Name, hdr.Typeflag)
}

// ReadManifestFile parses and validates an image manifest file on disk,
// such as dest/manifest of a rendered tree.
func ReadManifestFile(p string) (*schema.ImageManifest, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read image manifest: %w", err)
	}
	im, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return im, nil
}
