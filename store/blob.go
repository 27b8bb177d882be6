package store

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// ErrCorrupt is wrapped by errors for a blob whose content no longer
// matches its image id.
var ErrCorrupt = errors.New("blob corrupted on disk")

// OpenTar opens the uncompressed ACI tar of the image with the full id.
// The reader checks the content against the id as it goes: reading to the
// end, or closing early, reports ErrCorrupt when a stored blob was damaged.
func (s *Store) OpenTar(id string) (io.ReadCloser, error) {
	if info, err := s.Info(id); err != nil {
		return nil, err
	} else if info.OCI {
		return nil, fmt.Errorf("image %s is an OCI image, stored as layers, not as an ACI: %w", id, ErrNotACI)
	}
	f, err := os.Open(s.blobPath(id))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("image %s: blob missing from %s: %w", id, s.blobDir, ErrCorrupt)
		}
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	return &verifyingReader{f: f, id: id, h: sha512.New()}, nil
}

// ErrNotACI is wrapped by OpenTar's error for an OCI image.
var ErrNotACI = errors.New("not an ACI")

// Verify reads the whole blob of the image and checks it against its id;
// for an OCI image, its manifest, config and every layer blob.
func (s *Store) Verify(id string) error {
	rec, err := s.record(id)
	if err != nil {
		return err
	}
	if rec.OCI != nil {
		return s.verifyOCI(id, rec.OCI)
	}
	rc, err := s.OpenTar(id)
	if err != nil {
		return err
	}
	_, err = io.CopyBuffer(io.Discard, rc, make([]byte, writeBufSize))
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return err
}

// verifyingReader hashes a blob while it is read and compares the hash
// with the image id at the end.
type verifyingReader struct {
	f   *os.File
	id  string
	h   hash.Hash
	err error // sticky result once the end was reached
	eof bool
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.eof {
		return 0, v.endErr()
	}
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		v.eof = true
		v.err = v.check()
		if v.err != nil {
			return n, v.err
		}
		return n, io.EOF
	}
	if err != nil {
		return n, fmt.Errorf("image %s: read blob: %w", v.id, err)
	}
	return n, nil
}

func (v *verifyingReader) endErr() error {
	if v.err != nil {
		return v.err
	}
	return io.EOF
}

func (v *verifyingReader) check() error {
	got := idPrefix + hex.EncodeToString(v.h.Sum(nil))
	if got != v.id {
		return fmt.Errorf("image %s: content hashes to %s: %w; remove it with 'saturn image rm' and fetch it again", v.id, got, ErrCorrupt)
	}
	return nil
}

// Close finishes hashing what was not read, so a consumer that stops at
// the tar end-of-archive marker still learns of corruption.
func (v *verifyingReader) Close() error {
	defer v.f.Close()
	if !v.eof {
		if _, err := io.CopyBuffer(v.h, v.f, make([]byte, 64<<10)); err != nil {
			return fmt.Errorf("image %s: read blob: %w", v.id, err)
		}
		v.eof = true
		v.err = v.check()
	}
	return v.err
}
