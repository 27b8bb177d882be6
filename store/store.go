// Package store is saturn's content-addressed image store: ACI blobs named
// by image id under <dir>/cas, an index of their names, labels and use times
// in a bbolt database, and rendered image trees under <dir>/tree.
//
// On disk:
//
//	cas/index.db         bbolt index: images (name, labels, size, manifest,
//	                     import and last-use times, origin) and remotes
//	                     (URL -> image id, ETag, max-age) for HTTP caching
//	cas/blobs/<id>       uncompressed ACI tar of image <id>
//	cas/signatures/<id>.asc  the detached signature image <id> was verified
//	                     with at fetch time, when it had one
//	cas/tmp/import-*     imports in progress, flock'ed by their importer
//	tree/<treeID>/       manifest, rootfs/, images (ids rendered, one a
//	                     line), hash (of manifest and rootfs) and stat
//	                     (entries' lstat at the last full check)
//	tree/.tmp-*, .trash-* renders in progress and trees being removed
//	locks/tree-<treeID>.lock  serialises rendering, checking and removing
//	                     one tree
//
// Every process opens the index only for the span of one transaction:
// bbolt's file lock is held while the database is open, so holding it
// across slow work (downloads, decompression, rendering) would serialise all
// of saturn behind one slow command. Blob files change only under the
// index's write lock (renamed in inside the transaction that indexes them
// on import; removed on rm and gc just after the transaction that drops
// them has committed), so the index and the blobs never disagree for
// another process, and an image the index lists never lacks its blob, even
// when a commit fails or the process dies mid-way. Work in progress
// is flock'ed; gc removes only what no live process holds.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/appc/spec/schema"
	bolt "go.etcd.io/bbolt"
)

// Bucket names in the index database.
var (
	imagesBucket  = []byte("images")
	remotesBucket = []byte("remotes")
)

// dbLockTimeout bounds how long a command waits for another process's
// index transaction; transactions are short, so hitting it means a hung
// process holds the database.
const dbLockTimeout = 2 * time.Minute

// Store is an open image store. Any number of Stores in any number of
// processes may use one directory. Between calls a Store holds nothing
// open but the shared locks on the trees RenderTree returned; Close
// releases them.
type Store struct {
	dir     string
	casDir  string
	blobDir string
	sigDir  string
	tmpDir  string
	treeDir string
	lockDir string
	podsDir string
	dbPath  string

	// InsecureSkipTreeVerify makes RenderTree trust an existing tree
	// without rehashing it (--insecure-options=ondisk).
	InsecureSkipTreeVerify bool

	// MaxImageSize bounds the expanded size of an imported image (zero:
	// aci.DefaultMaxSize); a bigger one is refused, nothing stored.
	MaxImageSize int64

	// racyWindow: see defaultRacyWindow; tests shorten it.
	racyWindow time.Duration

	// idxMu orders this process's own index transactions (see update).
	idxMu sync.RWMutex

	mu   sync.Mutex
	held map[string]*fileLock // tree id -> shared lock, see RenderTree
	// manifests caches stored manifests by image id for the Store's
	// life. An id is the hash of the image, manifest included, so the
	// bytes under an id never change; a pod start asks for the same few
	// several times, and each index transaction opens the database.
	manifests map[string][]byte
}

// ImportOptions describe where an imported image came from.
type ImportOptions struct {
	// Origin is the URL or path the image was fetched from.
	Origin string
	// ETag is the HTTP entity tag of the download, if any.
	ETag string
	// MaxAge is the Cache-Control max-age of the download; zero means the
	// download must be revalidated before reuse.
	MaxAge time.Duration
	// SignatureURL is where the image's signature was fetched from.
	SignatureURL string
	// RequireDependencies refuses the image, leaving the store as it was,
	// unless every dependency it names is already stored.
	RequireDependencies bool
	// Signature is the detached signature the image was verified with;
	// it is kept beside the blob so 'image verify' can check the image
	// again later. Nil keeps the signature of an earlier import.
	Signature []byte
	// Latest records that the image was fetched by name without a
	// version, rkt's "latest pattern" shown in image list's LATEST.
	Latest bool
	// WantID refuses, leaving the store as it was, an image whose id is
	// not this one (a dependency pinned by image id).
	WantID string
	// Check, if set, runs once the whole archive has been read and
	// validated but before the image becomes visible; an error (a bad
	// signature, say) aborts the import and leaves the store as it was.
	Check func(m *schema.ImageManifest) error
}

// ImageInfo describes one image in the store.
type ImageInfo struct {
	ID         string
	Name       string
	Labels     map[string]string
	Size       int64 // bytes of the uncompressed ACI
	ImportTime time.Time
	LastUsed   time.Time
	Origin     string
	// Latest is true when the image was last imported by name without a
	// version label (rkt's "latest pattern"), as rkt's LATEST column.
	Latest bool
	// OCI is true for a Docker or OCI image.
	OCI bool
}

// Remote is the cache record of an image fetched from a URL.
type Remote struct {
	URL          string
	ImageID      string
	ETag         string
	MaxAge       time.Duration
	DownloadTime time.Time
	SignatureURL string
}

// imageRecord is what the index stores per image id.
type imageRecord struct {
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels,omitempty"`
	Size       int64             `json:"size"`
	ImportTime time.Time         `json:"importTime"`
	LastUsed   time.Time         `json:"lastUsed"`
	Origin     string            `json:"origin,omitempty"`
	Manifest   json.RawMessage   `json:"manifest"`
	Latest     bool              `json:"latest,omitempty"`
	// SignedForm is the compression of the ACI the stored signature
	// covers ("none", "gzip", …); empty when no signature is stored.
	SignedForm string `json:"signedForm,omitempty"`
	// OCI is set for a Docker or OCI image (see oci.go).
	OCI *ociRecord `json:"oci,omitempty"`
}

func (r *imageRecord) info(id string) ImageInfo {
	return ImageInfo{
		ID: id, Name: r.Name, Labels: r.Labels, Size: r.Size,
		ImportTime: r.ImportTime, LastUsed: r.LastUsed, Origin: r.Origin,
		Latest: r.Latest, OCI: r.OCI != nil,
	}
}

// ErrNotFound is returned (wrapped) when an image or reference is not in
// the store.
var ErrNotFound = errors.New("not found in the store")

// Open opens (creating if needed) the store under dir, saturn's --dir.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{
		dir:     abs,
		casDir:  filepath.Join(abs, "cas"),
		blobDir: filepath.Join(abs, "cas", "blobs"),
		sigDir:  filepath.Join(abs, "cas", "signatures"),
		tmpDir:  filepath.Join(abs, "cas", "tmp"),
		treeDir: filepath.Join(abs, "tree"),
		lockDir: filepath.Join(abs, "locks"),
		podsDir: filepath.Join(abs, "pods"),
		dbPath:  filepath.Join(abs, "cas", "index.db"),

		racyWindow: defaultRacyWindow,
	}
	for _, d := range []string{s.blobDir, s.sigDir, s.tmpDir, s.treeDir, s.lockDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
	}
	// Create the index once so read-only opens find a valid database. A
	// write transaction costs two fdatasyncs, so an index that exists is
	// left alone: bbolt writes a new file whole under its exclusive lock
	// before any reader's shared lock gets it.
	if fi, err := os.Stat(s.dbPath); err == nil && fi.Size() > 0 {
		return s, nil
	}
	if err := s.update(func(tx *bolt.Tx) error { return nil }); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return s, nil
}

// Close releases the tree locks RenderTree took. The Store stays usable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, lk := range s.held {
		lk.unlock()
		delete(s.held, id)
	}
	return nil
}

// Dir returns the saturn data directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// testHookBeforeCommit, when set (by tests), runs in every write
// transaction after fn succeeded, just before the commit; an error from
// it rolls the transaction back as a failed commit would.
var testHookBeforeCommit func() error

// update runs fn in a read-write transaction, holding the index's file
// lock only for its duration. fn must not call view or update.
//
// afterCommit runs, in order, once the transaction has committed and
// while the file lock is still held: files whose index entries the
// transaction dropped (blobs, signatures) are removed there, so that a
// transaction that fails to commit, or a process that dies before the
// commit, never leaves an image listed without its blob, while no other
// process can import the same image between the commit and the removal.
// A process that dies after the commit leaves unindexed files, which gc
// removes as leftovers. Every afterCommit runs even when one fails; the
// first error is returned.
func (s *Store) update(fn func(tx *bolt.Tx) error, afterCommit ...func() error) error {
	// Goroutines of one process wait for each other here: waiting on
	// the file lock, which bbolt polls every 50ms, would hold up a pod
	// start that renders its trees concurrently.
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	db, err := bolt.Open(s.dbPath, 0o600, &bolt.Options{Timeout: dbLockTimeout})
	if err != nil {
		return fmt.Errorf("open index %s: %w", s.dbPath, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{imagesBucket, remotesBucket, layersBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := fn(tx); err != nil {
			return err
		}
		if testHookBeforeCommit != nil {
			return testHookBeforeCommit()
		}
		return nil
	})
	if err == nil {
		for _, after := range afterCommit {
			if aerr := after(); aerr != nil && err == nil {
				err = aerr
			}
		}
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close index: %w", cerr)
	}
	return err
}

// view runs fn in a read-only transaction under a shared file lock. fn
// must not call view or update.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	db, err := bolt.Open(s.dbPath, 0o600, &bolt.Options{Timeout: dbLockTimeout, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open index %s: %w", s.dbPath, err)
	}
	err = db.View(fn)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close index: %w", cerr)
	}
	return err
}

func getImage(tx *bolt.Tx, id string) (*imageRecord, error) {
	b := tx.Bucket(imagesBucket)
	if b == nil {
		return nil, fmt.Errorf("image %s: %w", id, ErrNotFound)
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("image %s: %w", id, ErrNotFound)
	}
	var r imageRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("image %s: damaged index record: %w", id, err)
	}
	return &r, nil
}

func putImage(tx *bolt.Tx, id string, r *imageRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(imagesBucket).Put([]byte(id), v)
}

// forEachImage calls fn for every image in the index.
func forEachImage(tx *bolt.Tx, fn func(id string, r *imageRecord) error) error {
	b := tx.Bucket(imagesBucket)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var r imageRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("image %s: damaged index record: %w", k, err)
		}
		return fn(string(k), &r)
	})
}

func (s *Store) blobPath(id string) string { return filepath.Join(s.blobDir, id) }

// Manifest returns the image manifest of the image with the full id.
func (s *Store) Manifest(id string) (*schema.ImageManifest, error) {
	raw, err := s.manifestBytes(id)
	if err != nil {
		return nil, err
	}
	var m schema.ImageManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("image %s: stored manifest: %w", id, err)
	}
	return &m, nil
}

// manifestBytes is the stored manifest of image id, from the cache or
// the index. Callers get their own parse of it, so nothing they change
// reaches the cache.
func (s *Store) manifestBytes(id string) ([]byte, error) {
	s.mu.Lock()
	raw, ok := s.manifests[id]
	s.mu.Unlock()
	if ok {
		return raw, nil
	}
	err := s.view(func(tx *bolt.Tx) error {
		r, err := getImage(tx, id)
		if err != nil {
			return err
		}
		raw = append([]byte(nil), r.Manifest...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.manifests == nil {
		s.manifests = map[string][]byte{}
	}
	s.manifests[id] = raw
	s.mu.Unlock()
	return raw, nil
}

// forgetManifest drops a removed image's manifest from the cache, so
// that this Store too finds it gone.
func (s *Store) forgetManifest(id string) {
	s.mu.Lock()
	delete(s.manifests, id)
	s.mu.Unlock()
}

// Info returns what the index knows about the image with the full id.
func (s *Store) Info(id string) (ImageInfo, error) {
	var info ImageInfo
	err := s.view(func(tx *bolt.Tx) error {
		r, err := getImage(tx, id)
		if err != nil {
			return err
		}
		info = r.info(id)
		return nil
	})
	return info, err
}

// List returns every image in the store, oldest import first.
func (s *Store) List() ([]ImageInfo, error) {
	var out []ImageInfo
	err := s.view(func(tx *bolt.Tx) error {
		return forEachImage(tx, func(id string, r *imageRecord) error {
			out = append(out, r.info(id))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sortByImport(out)
	return out, nil
}

// MarkUsed sets the image's last-used time to now; image gc keeps images
// used within its grace period.
func (s *Store) MarkUsed(id string) error {
	return s.markUsed([]string{id}, time.Now())
}

// usedResolution is how precisely last-used times are kept: a record
// used less than this long ago is not rewritten, which spares most pod
// starts a write transaction (two fdatasyncs, tens of milliseconds on a
// slow disk). Image gc's grace periods are hours, and image list shows
// last use in minutes.
const usedResolution = time.Minute

func (s *Store) markUsed(ids []string, now time.Time) error {
	stale, err := s.staleUse(ids, now)
	if err != nil || len(stale) == 0 {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		for _, id := range stale {
			r, err := getImage(tx, id)
			if err != nil {
				return err
			}
			r.LastUsed = now
			if err := putImage(tx, id, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// staleUse returns the ids whose last use was recorded more than
// usedResolution before now (or after it: a clock set back).
func (s *Store) staleUse(ids []string, now time.Time) ([]string, error) {
	var stale []string
	err := s.view(func(tx *bolt.Tx) error {
		for _, id := range ids {
			r, err := getImage(tx, id)
			if err != nil {
				return err
			}
			if age := now.Sub(r.LastUsed); age < 0 || age >= usedResolution {
				stale = append(stale, id)
			}
		}
		return nil
	})
	return stale, err
}

// Remove deletes the image from the index and its blob from disk. Trees
// rendered from it stay until image gc finds them unreferenced.
func (s *Store) Remove(id string) error {
	var layers []string // OCI layers no other image uses
	return s.update(func(tx *bolt.Tx) error {
		if _, err := getImage(tx, id); err != nil {
			return err
		}
		if err := tx.Bucket(imagesBucket).Delete([]byte(id)); err != nil {
			return err
		}
		s.forgetManifest(id)
		var err error
		layers, err = dropUnusedLayers(tx)
		return err
	}, func() error {
		// The blob goes once the index no longer lists the image, but
		// under the index lock, so an import of the same image cannot
		// slip in between index and file removal.
		return s.removeImageFiles(id)
	}, func() error {
		return s.removeLayerFiles(layers)
	})
}

// removeImageFiles removes the blob and signature of an image the index
// no longer lists; see update's afterCommit. An error leaves unindexed
// files, which gc removes later.
func (s *Store) removeImageFiles(id string) error {
	err := os.Remove(s.blobPath(id))
	if err != nil && !os.IsNotExist(err) {
		err = fmt.Errorf("remove blob %s: %w", id, err)
	} else {
		err = nil
	}
	if serr := s.removeSignature(id); serr != nil && err == nil {
		err = serr
	}
	return err
}

// GetRemote returns the cache record of an image fetched from url, or nil
// when the url was never fetched or its image has since been removed.
func (s *Store) GetRemote(url string) (*Remote, error) {
	var rem *Remote
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(remotesBucket)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(url))
		if v == nil {
			return nil
		}
		var r Remote
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("remote %s: damaged index record: %w", url, err)
		}
		if _, err := getImage(tx, r.ImageID); err != nil {
			return nil
		}
		rem = &r
		return nil
	})
	return rem, err
}

// PutRemote records that url was (re)validated to still serve r.ImageID.
func (s *Store) PutRemote(r Remote) error {
	return s.update(func(tx *bolt.Tx) error {
		return putRemote(tx, r)
	})
}

func putRemote(tx *bolt.Tx, r Remote) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(remotesBucket).Put([]byte(r.URL), v)
}
