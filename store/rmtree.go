package store

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// TreeImages returns the ids of the images the tree treeID was rendered
// from: the image and its dependencies.
func (s *Store) TreeImages(treeID string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(s.TreePath(treeID), treeIDsFile))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}

// RemoveTreesOf removes the rendered trees made from the image id (as
// the image or one of its dependencies) that no pod references, so that
// removing an image frees its trees at once rather than at the next gc.
// A tree whose lock another process holds (one being rendered or checked
// for a pod being prepared) is left for gc. References are read once the
// trees are locked: a pod that recorded a tree before we got its lock is
// seen, and one that did not yet cannot render it any more without the
// image.
func (s *Store) RemoveTreesOf(id string) ([]string, error) {
	entries, err := os.ReadDir(s.treeDir)
	if err != nil {
		return nil, err
	}
	type lockedTree struct {
		id string
		lk *fileLock
	}
	var locked []lockedTree
	defer func() {
		for _, t := range locked {
			if t.lk != nil {
				t.lk.unlock()
			}
		}
	}()
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpTreePfx) || strings.HasPrefix(name, trashTreePfx) {
			continue
		}
		ids, err := s.TreeImages(name)
		if err != nil || !slices.Contains(ids, id) {
			continue
		}
		lk, err := lockPath(s.treeLockPath(name), true)
		if err != nil {
			continue
		}
		locked = append(locked, lockedTree{name, lk})
	}
	if len(locked) == 0 {
		return nil, nil
	}
	refs, err := s.ReferencedTrees()
	if err != nil {
		return nil, err
	}
	var removed []string
	for i := range locked {
		t := &locked[i]
		if refs[t.id] {
			continue
		}
		if err := s.removeTree(t.id); err != nil {
			return removed, err
		}
		err := t.lk.unlinkAndUnlock()
		t.lk = nil
		removed = append(removed, t.id)
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// HoldImagesExclusive waits until no pod in the making holds the store's
// images (HoldImages), calling wait first if one does, and keeps new ones
// from holding them until released: image rm then sees every pod that
// uses an image in its pod directory.
func (s *Store) HoldImagesExclusive(wait func()) (*ImagesHold, error) {
	lk, err := s.lockImagesForGC(wait)
	if err != nil {
		return nil, err
	}
	return &ImagesHold{lk}, nil
}
