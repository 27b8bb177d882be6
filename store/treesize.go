package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/saturn-pods/saturn/atomicfile"
)

// treeSizeFile caches a rendered tree's size beside its hash: trees never
// change once rendered (a damaged one is rendered anew, in a new
// directory), so the walk that measures one is done once.
const treeSizeFile = "size"

// TreeSizes returns, per image id, the bytes of the trees rendered from
// it: every entry of their manifest and rootfs, as rkt's tree store size
// counted them. image list adds this to the blob's size, as rkt did. A
// tree being rendered or removed right now is not counted.
func (s *Store) TreeSizes() (map[string]int64, error) {
	entries, err := os.ReadDir(s.treeDir)
	if err != nil {
		return nil, err
	}
	sizes := map[string]int64{}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, tmpTreePfx) || strings.HasPrefix(name, trashTreePfx) {
			continue
		}
		id, size, ok := s.treeSize(name)
		if ok {
			sizes[id] += size
		}
	}
	return sizes, nil
}

// treeSize measures the tree treeID under a shared lock, so gc cannot
// remove it meanwhile, and returns the image it was rendered for (the
// first of its images file) with its size.
func (s *Store) treeSize(treeID string) (string, int64, bool) {
	lk, err := lockPathMode(s.treeLockPath(treeID), shared, true)
	if errors.Is(err, errLocked) {
		return "", 0, false
	}
	if err == nil {
		defer lk.unlock()
	}
	path := s.TreePath(treeID)
	ids, err := os.ReadFile(filepath.Join(path, treeIDsFile))
	if err != nil {
		return "", 0, false
	}
	id, _, _ := strings.Cut(string(ids), "\n")
	if id == "" {
		return "", 0, false
	}
	if b, err := os.ReadFile(filepath.Join(path, treeSizeFile)); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n >= 0 {
			return id, n, true
		}
	}
	var size int64
	err = walkTreeStats(path, func(_ string, fi fs.FileInfo, _ *syscall.Stat_t) error {
		size += fi.Size()
		return nil
	})
	if err != nil {
		return "", 0, false
	}
	if lk != nil {
		// Best effort: without the cache the next list walks again.
		writeTreeSize(path, size)
	}
	return id, size, true
}

func writeTreeSize(treePath string, size int64) {
	atomicfile.Write(filepath.Join(treePath, treeSizeFile), []byte(strconv.FormatInt(size, 10)+"\n"), 0o644)
}
