package store

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// GCResult lists what GC removed.
type GCResult struct {
	Trees     []string    // tree ids
	Images    []ImageInfo // images not used within the grace period
	Leftovers []string    // paths left by crashed imports and renders
}

// GC removes images not used within grace, trees that no pod references
// whose images are gone or which were not used within grace, and the
// leftovers of crashed imports and renders. Work of live processes is
// recognised by its locks and left alone. Trees named by any pod's
// appsinfo/*/treeStoreID or stage1TreeStoreID are always kept.
//
// Images are looked at only while no pod in the making holds them
// (HoldImages); GC waits for such pods, calling wait (if not nil) once
// before it does.
func (s *Store) GC(grace time.Duration, wait func()) (*GCResult, error) {
	res := &GCResult{}
	if err := s.gcLeftovers(res); err != nil {
		return res, err
	}
	hold, err := s.lockImagesForGC(wait)
	if err != nil {
		return res, fmt.Errorf("gc: %w", err)
	}
	// The cutoff is taken once the pods that held images rendered their
	// trees, and marked their images used.
	cutoff := time.Now().Add(-grace)
	err = s.gcImages(cutoff, res)
	hold.unlock()
	if err != nil {
		return res, err
	}
	if err := s.gcTrees(cutoff, res); err != nil {
		return res, err
	}
	return res, s.gcLocks()
}

// gcLeftovers removes temp files of imports whose process died (their
// lock is free) and blobs that never made it into the index.
func (s *Store) gcLeftovers(res *GCResult) error {
	tmps, err := os.ReadDir(s.tmpDir)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, e := range tmps {
		p := filepath.Join(s.tmpDir, e.Name())
		if removeIfUnlocked(p) {
			res.Leftovers = append(res.Leftovers, p)
		}
	}
	// Blob files and index entries change together under the index
	// lock (see update), so under it an unindexed blob is garbage: one
	// an import renamed in before its commit failed, or one a removal
	// died before unlinking.
	return s.update(func(tx *bolt.Tx) error {
		blobs, err := os.ReadDir(s.blobDir)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		b := tx.Bucket(imagesBucket)
		for _, e := range blobs {
			if b.Get([]byte(e.Name())) != nil {
				continue
			}
			p := filepath.Join(s.blobDir, e.Name())
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("gc: %w", err)
			}
			res.Leftovers = append(res.Leftovers, p)
		}
		orphans, err := s.orphanSignatures(b)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		res.Leftovers = append(res.Leftovers, orphans...)
		layers, err := s.gcLayerFiles(tx)
		res.Leftovers = append(res.Leftovers, layers...)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		return nil
	})
}

// removeIfUnlocked removes path when no live process holds its flock.
func removeIfUnlocked(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	lk := &fileLock{f}
	if err := lk.lock(true); err != nil {
		f.Close()
		return false
	}
	return lk.unlinkAndUnlock() == nil
}

func (s *Store) gcImages(cutoff time.Time, res *GCResult) error {
	var stale []ImageInfo
	var layers []string // OCI layers no image uses any more
	return s.update(func(tx *bolt.Tx) error {
		stale = nil
		err := forEachImage(tx, func(id string, r *imageRecord) error {
			if r.LastUsed.Before(cutoff) {
				stale = append(stale, r.info(id))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, info := range stale {
			if err := tx.Bucket(imagesBucket).Delete([]byte(info.ID)); err != nil {
				return err
			}
			s.forgetManifest(info.ID)
		}
		layers, err = dropUnusedLayers(tx)
		return err
	}, func() error {
		if err := s.removeLayerFiles(layers); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		return nil
	}, func() error {
		// The blobs go once the index no longer lists their images,
		// still under the index lock (see update).
		res.Images = stale
		var first error
		for _, info := range stale {
			if err := s.removeImageFiles(info.ID); err != nil && first == nil {
				first = fmt.Errorf("gc: %w", err)
			}
		}
		return first
	})
}

func (s *Store) gcTrees(cutoff time.Time, res *GCResult) error {
	referenced, err := s.ReferencedTrees()
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(s.treeDir)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpTreePfx) || strings.HasPrefix(name, trashTreePfx) {
			if p, ok := s.gcTreeLeftover(name); ok {
				res.Leftovers = append(res.Leftovers, p)
			}
			continue
		}
		if referenced[name] {
			continue
		}
		removed, err := s.gcTree(name, cutoff)
		if err != nil {
			return err
		}
		if removed {
			res.Trees = append(res.Trees, name)
		}
	}
	return nil
}

// gcTree removes an unreferenced tree whose images are gone or that was
// not used since cutoff. A tree being rendered or checked (its lock held)
// is skipped.
func (s *Store) gcTree(treeID string, cutoff time.Time) (bool, error) {
	lk, err := lockPath(s.treeLockPath(treeID), true)
	if err != nil {
		return false, nil
	}
	path := s.TreePath(treeID)
	fi, err := os.Stat(path)
	if err != nil || (!fi.ModTime().Before(cutoff) && s.treeImagesPresent(path)) {
		lk.unlock()
		return false, nil
	}
	if err := s.removeTree(treeID); err != nil {
		lk.unlock()
		return false, fmt.Errorf("gc: %w", err)
	}
	if err := lk.unlinkAndUnlock(); err != nil {
		return true, fmt.Errorf("gc: %w", err)
	}
	return true, nil
}

// gcLocks removes the lock files of trees that no longer exist.
func (s *Store) gcLocks() error {
	ents, err := os.ReadDir(s.lockDir)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "tree-") || !strings.HasSuffix(name, ".lock") {
			continue
		}
		treeID := strings.TrimSuffix(strings.TrimPrefix(name, "tree-"), ".lock")
		lk, err := lockPath(s.treeLockPath(treeID), true)
		if err != nil {
			continue
		}
		if _, err := os.Stat(s.TreePath(treeID)); !os.IsNotExist(err) {
			lk.unlock()
			continue
		}
		if err := lk.unlinkAndUnlock(); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
	}
	return nil
}

func (s *Store) treeImagesPresent(path string) bool {
	data, err := os.ReadFile(filepath.Join(path, treeIDsFile))
	if err != nil {
		return false
	}
	for _, id := range strings.Fields(string(data)) {
		if _, err := s.Info(id); err != nil {
			return false
		}
	}
	return true
}

// gcTreeLeftover removes a temp or trash dir of a render when the tree it
// belongs to is not locked, i.e. its renderer is gone.
func (s *Store) gcTreeLeftover(name string) (string, bool) {
	rest := strings.TrimPrefix(strings.TrimPrefix(name, tmpTreePfx), trashTreePfx)
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return "", false
	}
	lk, err := lockPath(s.treeLockPath(rest[:i]), true)
	if err != nil {
		return "", false
	}
	defer lk.unlock()
	p := filepath.Join(s.treeDir, name)
	if err := os.RemoveAll(p); err != nil {
		return "", false
	}
	return p, true
}

// ReferencedTrees returns the tree ids that pods in any state use, read
// from <dir>/pods/*/*/appsinfo/*/treeStoreID and stage1TreeStoreID.
func (s *Store) ReferencedTrees() (map[string]bool, error) {
	refs := map[string]bool{}
	pats := []string{
		filepath.Join(s.podsDir, "*", "*", "appsinfo", "*", "treeStoreID"),
		filepath.Join(s.podsDir, "*", "*", "stage1TreeStoreID"),
	}
	for _, pat := range pats {
		files, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		for _, f := range files {
			id, err := readFirstLine(f)
			if err != nil {
				// A pod removed while we looked references nothing.
				continue
			}
			if id != "" {
				refs[id] = true
			}
		}
	}
	return refs, nil
}

func readFirstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	return strings.TrimSpace(sc.Text()), sc.Err()
}
