// Package aci reads, validates, builds, extracts and renders App Container
// Images (ACIs): tar archives holding a JSON image manifest and a rootfs
// directory, optionally compressed with gzip, bzip2 or xz.
package aci

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"strconv"

	dsbzip2 "github.com/dsnet/compress/bzip2"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
)

// Compression identifies how an ACI's tar stream is compressed.
type Compression int

// Supported compressions. The zero value is a plain, uncompressed tar.
const (
	NoCompression Compression = iota
	Gzip
	Bzip2
	Xz
)

// String returns the name used on the command line for c.
func (c Compression) String() string {
	switch c {
	case NoCompression:
		return "none"
	case Gzip:
		return "gzip"
	case Bzip2:
		return "bzip2"
	case Xz:
		return "xz"
	}
	return "Compression(" + strconv.Itoa(int(c)) + ")"
}

// ParseCompression turns a command-line name ("none", "gzip", "bzip2",
// "xz") into a Compression.
func ParseCompression(s string) (Compression, error) {
	for c := NoCompression; c <= Xz; c++ {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown compression %q (want none, gzip, bzip2 or xz)", s)
}

var (
	gzipMagic  = []byte{0x1f, 0x8b}
	bzip2Magic = []byte("BZh")
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// DetectCompression looks only at the magic bytes at the start of an
// archive. Anything it does not recognise is reported as NoCompression;
// Decompress additionally checks that such data really is a tar.
func DetectCompression(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return Gzip
	case bytes.HasPrefix(head, bzip2Magic):
		return Bzip2
	case bytes.HasPrefix(head, xzMagic):
		return Xz
	}
	return NoCompression
}

// ErrNotACI is wrapped by errors for data that is neither a tar nor a tar
// compressed in a supported format.
var ErrNotACI = errors.New("not an ACI")

// readBufSize is large because ACIs are read sequentially and can be
// hundreds of MiB; big reads keep syscall and decompressor overhead low.
const readBufSize = 1 << 20

// Decompress returns the plain tar stream of r, whatever its supported
// compression, and which compression was found. Closing the result does
// not close r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < tarBlockSize {
		br = bufio.NewReaderSize(r, readBufSize)
	}
	head, err := br.Peek(tarBlockSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("read archive header: %w", err)
	}
	if len(head) == 0 {
		return nil, 0, fmt.Errorf("%w: empty input", ErrNotACI)
	}
	c := DetectCompression(head)
	switch c {
	case Gzip:
		zr, err := pgzip.NewReaderN(br, readBufSize, 4)
		if err != nil {
			return nil, c, fmt.Errorf("open gzip stream: %w", err)
		}
		return zr, c, nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(br)), c, nil
	case Xz:
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("open xz stream: %w", err)
		}
		return io.NopCloser(xr), c, nil
	}
	if !looksLikeTar(head) {
		return nil, c, fmt.Errorf("%w: unknown compression or not a tar archive", ErrNotACI)
	}
	return io.NopCloser(br), c, nil
}

const tarBlockSize = 512

// looksLikeTar checks the header checksum of the first tar block. That
// recognises every tar dialect (v7, ustar, GNU, PAX) without trusting the
// optional "ustar" magic.
func looksLikeTar(block []byte) bool {
	if len(block) < tarBlockSize {
		return false
	}
	field := bytes.TrimRight(bytes.TrimLeft(block[148:156], " \x00"), " \x00")
	want, err := strconv.ParseUint(string(field), 8, 32)
	if err != nil || len(field) == 0 {
		return false
	}
	// Some old writers summed signed bytes; accept either, as Go's reader does.
	var unsigned, signed int64
	for i, b := range block[:tarBlockSize] {
		if i >= 148 && i < 156 {
			b = ' '
		}
		unsigned += int64(b)
		signed += int64(int8(b))
	}
	return int64(want) == unsigned || int64(want) == signed
}

// compressWriter wraps w so that what is written to the result comes out
// compressed with c. The result must be closed to flush it; that does not
// close w.
func compressWriter(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case NoCompression:
		return nopWriteCloser{w}, nil
	case Gzip:
		return pgzip.NewWriter(w), nil
	case Bzip2:
		bw, err := dsbzip2.NewWriter(w, &dsbzip2.WriterConfig{Level: dsbzip2.BestCompression})
		if err != nil {
			return nil, fmt.Errorf("bzip2 writer: %w", err)
		}
		return bw, nil
	case Xz:
		xw, err := xz.NewWriter(w)
		if err != nil {
			return nil, fmt.Errorf("xz writer: %w", err)
		}
		return xw, nil
	}
	return nil, fmt.Errorf("unsupported compression %v", c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
