package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/appc/spec/schema/types"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/aci"
)

// writeBufSize batches blob writes into large syscalls.
const writeBufSize = 1 << 20

// Import reads an ACI of any supported compression, validates it, and
// stores its uncompressed tar under its image id, all in one pass over the
// data. Only a fully written, fsync'ed and validated blob is renamed into
// place and indexed; on any error the store is left as it was. Importing
// an image that is already stored refreshes its blob, last use and origin.
func (s *Store) Import(r io.Reader, opts ImportOptions) (string, error) {
	plain, comp, err := aci.Decompress(r)
	if err != nil {
		return "", err
	}
	defer plain.Close()
	tmp, err := s.lockedTemp()
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.Remove(tmp.Name())
		}
		tmp.Close()
	}()
	img, err := s.writeBlob(plain, tmp)
	if err != nil {
		// Errors of the decompressor itself do not say what was being
		// decompressed; the archive checks' errors say enough.
		if comp != aci.NoCompression && !strings.HasPrefix(err.Error(), "invalid ACI") {
			err = fmt.Errorf("%v stream: %w", comp, err)
		}
		return "", err
	}
	if opts.WantID != "" && img.ID != opts.WantID {
		return "", fmt.Errorf("image %s is %s, not the required %s", img.Manifest.Name, types.ShortHash(img.ID), types.ShortHash(opts.WantID))
	}
	if opts.Check != nil {
		if err := opts.Check(img.Manifest); err != nil {
			return "", err
		}
	}
	sigTmp := ""
	if opts.Signature != nil {
		f, err := s.writeSignatureTemp(opts.Signature)
		if err != nil {
			return "", fmt.Errorf("import %s: %w", img.ID, err)
		}
		sigTmp = f.Name()
		// Closing drops the lock only after the rename moved the file.
		defer func() {
			os.Remove(sigTmp)
			f.Close()
		}()
	}
	if err := s.commitImport(tmp.Name(), sigTmp, comp, img, opts); err != nil {
		return "", err
	}
	done = true
	return img.ID, nil
}

// writeBlob validates the plain tar while writing it to f and syncs f.
func (s *Store) writeBlob(plain io.Reader, f *os.File) (*aci.Image, error) {
	bw := bufio.NewWriterSize(f, writeBufSize)
	img, err := aci.ValidateWith(io.TeeReader(plain, bw), aci.ValidateOptions{MaxSize: s.MaxImageSize})
	if err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write blob: %w", err)
	}
	if err := checkNoWritesThroughSymlinks(f); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync blob: %w", err)
	}
	return img, nil
}

// commitImport moves the blob (and its signature, when sigTmp is set)
// into place and indexes it in one index transaction, so gc (which
// removes unindexed blobs and signatures under the same lock) never sees
// one without the other. comp is the compression of the imported file.
func (s *Store) commitImport(tmpPath, sigTmp string, comp aci.Compression, img *aci.Image, opts ImportOptions) error {
	manifest, err := json.Marshal(img.Manifest)
	if err != nil {
		return fmt.Errorf("import %s: %w", img.ID, err)
	}
	now := time.Now()
	return s.update(func(tx *bolt.Tx) error {
		if opts.RequireDependencies {
			for _, dep := range img.Manifest.Dependencies {
				if _, err := findDependencyTx(tx, dep); err != nil {
					return fmt.Errorf("image %s: %w", img.Manifest.Name, err)
				}
			}
		}
		if err := os.Rename(tmpPath, s.blobPath(img.ID)); err != nil {
			return fmt.Errorf("import %s: %w", img.ID, err)
		}
		if err := syncDir(s.blobDir); err != nil {
			return fmt.Errorf("import %s: %w", img.ID, err)
		}
		signedForm := comp.String()
		if sigTmp != "" {
			if err := os.Rename(sigTmp, s.sigPath(img.ID)); err != nil {
				return fmt.Errorf("import %s: %w", img.ID, err)
			}
			if err := syncDir(s.sigDir); err != nil {
				return fmt.Errorf("import %s: %w", img.ID, err)
			}
		}
		// A re-import keeps the first import time (fetch tells a new
		// image from a known one by it) but counts as a use, and the
		// origin is the newest source. An unsigned re-import keeps the
		// signature of an earlier one: it signs the same content.
		importTime := now
		old, err := getImage(tx, img.ID)
		if err == nil {
			importTime = old.ImportTime
		}
		if sigTmp == "" {
			signedForm = ""
			if old != nil {
				signedForm = old.SignedForm
			}
		}
		rec := &imageRecord{
			Name:       string(img.Manifest.Name),
			Labels:     make(map[string]string, len(img.Manifest.Labels)),
			Size:       img.Size,
			ImportTime: importTime,
			LastUsed:   now,
			Origin:     opts.Origin,
			Manifest:   manifest,
			Latest:     opts.Latest,
			SignedForm: signedForm,
		}
		for _, l := range img.Manifest.Labels {
			rec.Labels[string(l.Name)] = l.Value
		}
		if err := putImage(tx, img.ID, rec); err != nil {
			return err
		}
		if !isURL(opts.Origin) {
			return nil
		}
		return putRemote(tx, Remote{
			URL: opts.Origin, ImageID: img.ID, ETag: opts.ETag, MaxAge: opts.MaxAge,
			DownloadTime: now, SignatureURL: opts.SignatureURL,
		})
	})
}

func isURL(s string) bool {
	for _, p := range []string{"http://", "https://", "docker://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// lockedTemp creates a temp file for an import and locks it. The lock tells
// image gc that the file belongs to a live import; a crashed import's lock
// dies with it. Between create and lock a gc may see the file unlocked and
// unlink it, so the lock only counts once the file is still in place.
func (s *Store) lockedTemp() (*os.File, error) {
	for {
		tmp, err := os.CreateTemp(s.tmpDir, "import-*")
		if err != nil {
			return nil, err
		}
		lk := &fileLock{tmp}
		if err := lk.lock(false); err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return nil, err
		}
		if lk.stillAt(tmp.Name()) {
			return tmp, nil
		}
		tmp.Close()
	}
}
