package store

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// treeEntry is one file of a rendered tree as the tree hash sees it.
type treeEntry struct {
	rel     string
	mode    fs.FileMode
	uid     uint32
	gid     uint32
	size    int64
	rdev    uint64
	link    string
	content [sha512.Size]byte
}

// treeHash hashes a rendered tree's manifest and rootfs: every path, its
// type and permission bits, owner, and the content of files, the target
// of symlinks and the number of devices. Times are left out because
// rendering does not need to reproduce them.
func treeHash(dir string) (string, error) {
	sum, _, _, err := hashTree(dir)
	return sum, err
}

// hashTree is treeHash that also returns every entry's lstat identity
// and the time just before the stats were taken, for the stat record
// (treestat.go). The stats come before any content is read, so a change
// made while hashing shows in the next quick check.
func hashTree(dir string) (sum string, idents []statIdent, taken time.Time, err error) {
	var entries []*treeEntry
	taken = time.Now()
	err = walkTreeStats(dir, func(rel string, fi fs.FileInfo, st *syscall.Stat_t) error {
		e, err := statEntry(filepath.Join(dir, rel), rel, fi, st)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		idents = append(idents, identOf(rel, st))
		return nil
	})
	if err != nil {
		return "", nil, taken, fmt.Errorf("hash tree: %w", err)
	}
	if err := hashContents(dir, entries); err != nil {
		return "", nil, taken, fmt.Errorf("hash tree: %w", err)
	}
	h := sha512.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%q %o %d %d %d %d %q %x\n", e.rel, uint32(e.mode), e.uid, e.gid, e.size, e.rdev, e.link, e.content)
	}
	return idPrefix + hex.EncodeToString(h.Sum(nil)), idents, taken, nil
}

func statEntry(path, rel string, fi fs.FileInfo, st *syscall.Stat_t) (*treeEntry, error) {
	e := &treeEntry{rel: rel, mode: fi.Mode(), uid: st.Uid, gid: st.Gid}
	if fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0 {
		e.rdev = st.Rdev
	}
	switch {
	case fi.Mode().IsRegular():
		e.size = fi.Size()
	case fi.Mode()&fs.ModeSymlink != 0:
		var err error
		if e.link, err = os.Readlink(path); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// hashContents hashes regular files on several goroutines: verifying a
// tree on every run is read-bound, and parallel reads keep it short.
func hashContents(dir string, entries []*treeEntry) error {
	work := make(chan *treeEntry)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for e := range work {
				if err := hashFile(filepath.Join(dir, e.rel), e, buf); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for _, e := range entries {
		if e.mode.IsRegular() {
			work <- e
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func hashFile(path string, e *treeEntry, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha512.New()
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return err
	}
	// A size that changed between stat and read is a damaged tree too.
	e.size = n
	copy(e.content[:], h.Sum(nil))
	return nil
}
