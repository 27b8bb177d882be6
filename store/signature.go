package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// sigSuffix ends the name of a stored signature file.
const sigSuffix = ".asc"

// Signature is the detached signature an image was verified with when it
// was fetched.
type Signature struct {
	// Armored is the signature as it was fetched (armored or binary).
	Armored []byte
	// SignedForm is the compression of the ACI file the signature covers:
	// "none" when it signs the uncompressed tar the store keeps, so the
	// blob itself can be checked against it; otherwise the signed bytes
	// (a gzip, bzip2 or xz file) are gone and only the signer can be
	// checked again.
	SignedForm string
}

func (s *Store) sigPath(id string) string { return filepath.Join(s.sigDir, id+sigSuffix) }

// Signature returns the signature stored with the image, or nil when the
// image was imported without one (--insecure-options=image).
func (s *Store) Signature(id string) (*Signature, error) {
	var form string
	err := s.view(func(tx *bolt.Tx) error {
		r, err := getImage(tx, id)
		if err != nil {
			return err
		}
		form = r.SignedForm
		return nil
	})
	if err != nil || form == "" {
		return nil, err
	}
	data, err := os.ReadFile(s.sigPath(id))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("image %s: signature missing from %s: %w", id, s.sigDir, ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: read signature: %w", id, err)
	}
	return &Signature{Armored: data, SignedForm: form}, nil
}

// writeSignatureTemp writes sig to a locked temp file for an import to
// rename into place with the blob.
func (s *Store) writeSignatureTemp(sig []byte) (*os.File, error) {
	f, err := s.lockedTemp()
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(sig); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("write signature: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("sync signature: %w", err)
	}
	return f, nil
}

// removeSignature removes the image's signature file, if any. Callers
// call it once the index transaction that drops the image has committed,
// with the index lock still held.
func (s *Store) removeSignature(id string) error {
	if err := os.Remove(s.sigPath(id)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove signature of %s: %w", id, err)
	}
	return nil
}

// orphanSignatures removes signature files of images the index does not
// hold (an import that died between rename and commit) and returns them.
func (s *Store) orphanSignatures(images *bolt.Bucket) ([]string, error) {
	ents, err := os.ReadDir(s.sigDir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), sigSuffix)
		if ok && images.Get([]byte(id)) != nil {
			continue
		}
		p := filepath.Join(s.sigDir, e.Name())
		if err := os.Remove(p); err != nil {
			return removed, err
		}
		removed = append(removed, p)
	}
	return removed, nil
}
