package store

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/atomicfile"
)

// Files a rendered tree holds beside manifest and rootfs/.
const (
	treeHashFile = "hash"   // hash of manifest and rootfs, see treeHash
	treeIDsFile  = "images" // image ids the tree was rendered from, one a line
	tmpTreePfx   = ".tmp-"
	trashTreePfx = ".trash-"
)

// maxDepDepth bounds dependency chains so a cycle cannot loop forever.
const maxDepDepth = 64

// ErrTreeDamaged is wrapped by errors for a rendered tree whose content no
// longer matches the hash recorded when it was rendered.
var ErrTreeDamaged = errors.New("rendered tree damaged")

// TreePath returns where the tree with treeID lives: <path>/manifest and
// <path>/rootfs.
func (s *Store) TreePath(treeID string) string { return filepath.Join(s.treeDir, treeID) }

// TreePathIn is where the store in the data directory dir keeps the tree
// treeID, for callers that need the path without opening the store.
func TreePathIn(dir, treeID string) string { return filepath.Join(dir, "tree", treeID) }

// RenderTree renders the image with the full id and all its dependencies
// into one tree (path/manifest, path/rootfs) and returns its tree id and
// path. A tree is rendered once per image+dependencies; later calls check
// the stored hash (unless InsecureSkipTreeVerify) and re-render a damaged
// tree. It marks the image and its dependencies used.
//
// The Store keeps a shared lock on the tree until Close (or until the
// process exits or execs), so image gc cannot remove it before the pod
// that asked for it has recorded it in its treeStoreID files.
func (s *Store) RenderTree(id string) (treeID string, path string, err error) {
	ids, err := s.dependencyClosure(id)
	if err != nil {
		return "", "", fmt.Errorf("render %s: %w", id, err)
	}
	treeID = treeIDOf(ids)
	path = s.TreePath(treeID)
	if !s.holdsTree(treeID) {
		lk, err := s.acquireTree(treeID, id, ids)
		if err != nil {
			return "", "", fmt.Errorf("render %s: %w", id, err)
		}
		s.holdTree(treeID, lk)
	}
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		return "", "", fmt.Errorf("render %s: %w", id, err)
	}
	if err := s.markUsed(ids, now); err != nil {
		return "", "", fmt.Errorf("render %s: %w", id, err)
	}
	return treeID, path, nil
}

// acquireTree returns a shared lock on the tree with treeID once the tree
// is complete and verified. Checking happens under the shared lock, so
// many processes can check one tree at once; rendering a missing or
// damaged tree happens under the exclusive lock. Converting an flock
// briefly lets go of it, so after each conversion the lock file and the
// tree are looked at again and the whole dance restarts if gc got in.
func (s *Store) acquireTree(treeID, id string, ids []string) (*fileLock, error) {
	lockFile := s.treeLockPath(treeID)
	for {
		lk, err := lockPathMode(lockFile, shared, false)
		if err != nil {
			return nil, err
		}
		if s.treeValid(treeID) {
			return lk, nil
		}
		if err := lk.lockMode(exclusive, false); err != nil {
			lk.unlock()
			return nil, err
		}
		if !lk.stillAt(lockFile) {
			lk.unlock()
			continue
		}
		if !s.treeValid(treeID) {
			if err := s.removeTree(treeID); err != nil {
				lk.unlock()
				return nil, err
			}
			if err := s.renderInto(id, ids, treeID); err != nil {
				lk.unlock()
				return nil, err
			}
		}
		if err := lk.lockMode(shared, false); err != nil {
			lk.unlock()
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(s.TreePath(treeID), treeHashFile)); err == nil && lk.stillAt(lockFile) {
			return lk, nil
		}
		lk.unlock()
	}
}

func (s *Store) holdsTree(treeID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.held[treeID]
	return ok
}

func (s *Store) holdTree(treeID string, lk *fileLock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = map[string]*fileLock{}
	}
	if old, ok := s.held[treeID]; ok {
		old.unlock()
	}
	s.held[treeID] = lk
}

// CheckTree verifies the content of the tree with treeID against its
// stored hash. After a successful check it records the tree's stats, so
// that RenderTree's next check can compare stats instead (treestat.go).
func (s *Store) CheckTree(treeID string) error {
	path := s.TreePath(treeID)
	want, err := readTreeHash(path)
	if err != nil {
		return fmt.Errorf("tree %s: %w", treeID, err)
	}
	got, idents, taken, err := hashTree(path)
	if err != nil {
		return fmt.Errorf("tree %s: %w", treeID, err)
	}
	if got != want {
		return fmt.Errorf("tree %s: %w", treeID, ErrTreeDamaged)
	}
	// Best effort: without a record the next check hashes again.
	if boot, err := bootID(); err == nil {
		writeTreeStats(path, want, boot, taken, idents)
	}
	return nil
}

func readTreeHash(treePath string) (string, error) {
	b, err := os.ReadFile(filepath.Join(treePath, treeHashFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (s *Store) treeLockPath(treeID string) string {
	return filepath.Join(s.lockDir, "tree-"+treeID+".lock")
}

// treeValid reports whether a complete tree matching its recorded hash
// is in place (with InsecureSkipTreeVerify, whether a complete one is).
// Stats matching the record of the last full check vouch for the
// content; anything else is settled by hashing the content.
func (s *Store) treeValid(treeID string) bool {
	if s.InsecureSkipTreeVerify {
		_, err := os.Stat(filepath.Join(s.TreePath(treeID), treeHashFile))
		return err == nil
	}
	if want, err := readTreeHash(s.TreePath(treeID)); err == nil && statsMatch(s.TreePath(treeID), want, s.racyWindow) {
		return true
	}
	return s.CheckTree(treeID) == nil
}

// removeTree renames the tree out of the way first so nobody ever sees a
// half-deleted tree under its real name. The caller holds the tree lock.
func (s *Store) removeTree(treeID string) error {
	trash, err := os.MkdirTemp(s.treeDir, trashTreePfx+treeID+"-")
	if err != nil {
		return fmt.Errorf("remove tree %s: %w", treeID, err)
	}
	if err := os.Rename(s.TreePath(treeID), filepath.Join(trash, "t")); err != nil && !os.IsNotExist(err) {
		os.Remove(trash)
		return fmt.Errorf("remove tree %s: %w", treeID, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove tree %s: %w", treeID, err)
	}
	return nil
}

// renderInto renders into a temp dir beside the final place, hashes it
// and renames it into place. The caller holds the tree lock.
func (s *Store) renderInto(id string, ids []string, treeID string) error {
	tmp, err := os.MkdirTemp(s.treeDir, tmpTreePfx+treeID+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The store's trees keep devices and setuid files: pods see them on
	// nodev mounts, and no host user can reach the tree store.
	if err := s.RenderTo(id, tmp, aci.RenderOptions{}); err != nil {
		return err
	}
	sum, err := treeHash(tmp)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteSync(filepath.Join(tmp, treeIDsFile), []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := atomicfile.WriteSync(filepath.Join(tmp, treeHashFile), []byte(sum+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.TreePath(treeID)); err != nil {
		return err
	}
	return syncDir(s.treeDir)
}

// RenderTo renders the image with the full id and its dependencies into
// dest (dest/manifest, dest/rootfs), checking every blob it reads against
// its id.
func (s *Store) RenderTo(id, dest string, opts aci.RenderOptions) error {
	if rec, err := s.record(id); err != nil {
		return err
	} else if rec.OCI != nil {
		return s.renderOCI(id, rec, dest, opts)
	}
	src := &checkedSource{s: s}
	err := aci.RenderWith(src, id, dest, opts)
	if cerr := src.firstErr(); cerr != nil {
		return cerr
	}
	return err
}

// dependencyClosure lists id and every image it depends on, depth first
// in manifest order; the list names the tree.
func (s *Store) dependencyClosure(id string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	var walk func(id string, depth int) error
	walk = func(id string, depth int) error {
		if depth > maxDepDepth {
			return fmt.Errorf("dependencies nested deeper than %d (a cycle?)", maxDepDepth)
		}
		if seen[id] {
			return nil
		}
		seen[id] = true
		ids = append(ids, id)
		m, err := s.Manifest(id)
		if err != nil {
			return err
		}
		for _, dep := range m.Dependencies {
			did, err := s.FindDependency(dep)
			if err != nil {
				return err
			}
			if err := walk(did, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(id, 0); err != nil {
		return nil, err
	}
	return ids, nil
}

func treeIDOf(ids []string) string {
	h := sha512.Sum512([]byte(strings.Join(ids, "\n")))
	return "deps-" + idPrefix + hex.EncodeToString(h[:32])
}

// checkedSource hands aci.Render the store's blobs and remembers any
// corruption a blob reader reports, even on a Close whose error Render
// might not pass on.
type checkedSource struct {
	s    *Store
	mu   sync.Mutex
	errs []error
}

func (c *checkedSource) FindDependency(dep types.Dependency) (string, error) {
	return c.s.FindDependency(dep)
}

func (c *checkedSource) Manifest(id string) (*schema.ImageManifest, error) {
	return c.s.Manifest(id)
}

func (c *checkedSource) OpenTar(id string) (io.ReadCloser, error) {
	rc, err := c.s.OpenTar(id)
	if err != nil {
		return nil, err
	}
	return &recordingReader{rc: rc, c: c}, nil
}

func (c *checkedSource) record(err error) {
	if errors.Is(err, ErrCorrupt) {
		c.mu.Lock()
		c.errs = append(c.errs, err)
		c.mu.Unlock()
	}
}

func (c *checkedSource) firstErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs[0]
}

type recordingReader struct {
	rc io.ReadCloser
	c  *checkedSource
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.c.record(err)
	return n, err
}

func (r *recordingReader) Close() error {
	err := r.rc.Close()
	r.c.record(err)
	return err
}
