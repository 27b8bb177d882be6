package untar

import (
	"archive/tar"
	"container/list"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/inroot"
)

// Directories are found by their path relative to the root. A lookup that
// misses the cache opens the directory from its parent's descriptor,
// itself looked up the same way, one component at a time and never
// following a symlink, so an entry costs the same whatever its depth;
// only a symlink on the way is resolved from the root, by the kernel,
// inside the root. Finish walks the deferred directories the same way.

// maxCachedDirs bounds the open directory descriptors kept between
// entries; archives list a directory's files together, so a small cache
// catches nearly every lookup.
const maxCachedDirs = 128

// dirFlags open a directory, never through a symlink in the last
// component.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// dirCache holds open directory descriptors, the least recently used
// evicted first.
type dirCache struct {
	byRel map[string]*list.Element // of *cachedDir
	lru   *list.List               // most recently used first
}

type cachedDir struct {
	rel string
	fd  int
}

func newDirCache() dirCache {
	return dirCache{byRel: map[string]*list.Element{}, lru: list.New()}
}

func (x *Tree) cacheGet(rel string) (int, bool) {
	e, ok := x.dirs.byRel[rel]
	if !ok {
		return -1, false
	}
	x.dirs.lru.MoveToFront(e)
	return e.Value.(*cachedDir).fd, true
}

// cachePut caches fd as rel's. An evicted descriptor stays open until the
// next entry starts: the current one may still be using it.
func (x *Tree) cachePut(rel string, fd int) {
	if x.dirs.lru.Len() >= maxCachedDirs {
		old := x.dirs.lru.Remove(x.dirs.lru.Back()).(*cachedDir)
		delete(x.dirs.byRel, old.rel)
		x.retired = append(x.retired, old.fd)
	}
	x.dirs.byRel[rel] = x.dirs.lru.PushFront(&cachedDir{rel: rel, fd: fd})
}

// dropDirCache forgets every cached directory. The descriptors stay open
// until the next entry starts, because the entry being extracted may still
// be using one of them.
func (x *Tree) dropDirCache() {
	for e := x.dirs.lru.Front(); e != nil; e = e.Next() {
		x.retired = append(x.retired, e.Value.(*cachedDir).fd)
	}
	x.dirs = newDirCache()
}

// lookupDir returns a descriptor of the existing directory rel; it
// creates nothing.
func (x *Tree) lookupDir(rel string) (int, error) { return x.dir(rel, false) }

// dirFD returns an open descriptor of the directory rel, creating missing
// directories (mode 0755) on the way as tar does.
func (x *Tree) dirFD(rel string) (int, error) { return x.dir(rel, true) }

func (x *Tree) dir(rel string, create bool) (int, error) {
	if rel == "" {
		return x.rootFD, nil
	}
	if fd, ok := x.cacheGet(rel); ok {
		return fd, nil
	}
	parent, base := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		parent, base = rel[:i], rel[i+1:]
	}
	pfd, err := x.dir(parent, create)
	if err != nil {
		return -1, err
	}
	fd, err := x.openChild(pfd, rel, base, create)
	if err != nil {
		return -1, err
	}
	x.cachePut(rel, fd)
	return fd, nil
}

// openChild opens the directory base in pfd, whose path is rel: itself
// when it is a directory, resolved inside the root when it is a symlink
// (followed as it would be after chroot into the root); missing, it is
// made when create is set.
func (x *Tree) openChild(pfd int, rel, base string, create bool) (int, error) {
	x.walked++
	fd, err := unix.Openat(pfd, base, dirFlags, 0)
	if err == unix.ENOENT && create {
		if err := unix.Mkdirat(pfd, base, 0o755); err != nil && err != unix.EEXIST {
			return -1, &parentError{rel, "cannot be made", err}
		}
		x.walked++
		fd, err = unix.Openat(pfd, base, dirFlags, 0)
	}
	if (err == unix.ENOTDIR || err == unix.ELOOP) && isSymlinkAt(pfd, base) {
		fd, err = x.openInRoot(rel)
		if err == unix.ENOENT && create {
			// tar does not create through a dangling symlink either.
			return -1, &parentError{rel, "is a dangling symlink", err}
		}
	}
	switch {
	case err == unix.ENOTDIR:
		return -1, &parentError{rel, "is not a directory", err}
	case err != nil:
		return -1, &parentError{rel, "cannot be opened", err}
	}
	return fd, nil
}

// parentError is a directory on the way to an entry that cannot be used.
type parentError struct {
	rel, what string
	err       error
}

func (e *parentError) Error() string {
	msg := "parent " + e.rel + " " + e.what
	if e.what == "cannot be opened" || e.what == "cannot be made" {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *parentError) Unwrap() error { return e.err }

func isSymlinkAt(dirfd int, base string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// openInRoot opens directory rel below the root as if the root were "/":
// "..", absolute symlinks and magic links cannot leave it.
func (x *Tree) openInRoot(rel string) (int, error) {
	x.walked += strings.Count(rel, "/") + 1
	fd, err := inroot.OpenFD(x.rootFD, rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err == unix.ENOSYS {
		return -1, errors.New("kernel lacks openat2 (Linux 5.6 or newer is required)")
	}
	return fd, err
}

// finishNode is a directory on the way to deferred directories.
type finishNode struct {
	hdr      *tar.Header // its own entry, nil if it has none
	children map[string]*finishNode
}

// Finish applies directory owners, modes, xattrs and times, each
// directory after everything below it, once all content is in place, so
// neither a read-only mode nor the creation of children spoils them. It
// walks the deferred directories as a tree from the root, holding one
// descriptor per level.
func (x *Tree) Finish() error {
	x.closeRetired()
	root := &finishNode{}
	for rel, hdr := range x.deferred {
		n := root
		if rel != "" {
			for comp := range strings.SplitSeq(rel, "/") {
				c := n.children[comp]
				if c == nil {
					if n.children == nil {
						n.children = map[string]*finishNode{}
					}
					c = &finishNode{}
					n.children[comp] = c
				}
				n = c
			}
		}
		n.hdr = hdr
	}
	if err := x.finishBelow(x.rootFD, "", root); err != nil {
		return err
	}
	if root.hdr == nil {
		return nil
	}
	if err := x.finishRootDir(root.hdr); err != nil {
		return fmt.Errorf("extract %s: %w", root.hdr.Name, err)
	}
	return nil
}

// finishBelow finishes the deferred directories below n, the directory
// fd whose path is rel.
func (x *Tree) finishBelow(fd int, rel string, n *finishNode) error {
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := n.children[name]
		crel := strings.TrimPrefix(rel+"/"+name, "/")
		x.walked++
		cfd, err := unix.Openat(fd, name, dirFlags, 0)
		own := c.hdr != nil
		if (err == unix.ENOTDIR || err == unix.ELOOP) && isSymlinkAt(fd, name) {
			// A later entry replaced the directory by a symlink: what
			// lies below was extracted through it, the link itself keeps
			// its own attributes.
			own = false
			cfd, err = x.openInRoot(crel)
		}
		if err == unix.ENOENT || err == unix.ENOTDIR || err == unix.ELOOP {
			continue // replaced by a later entry of the archive
		}
		if err != nil {
			return fmt.Errorf("extract %s: open directory: %w", crel, err)
		}
		err = x.finishBelow(cfd, crel, c)
		if err == nil && own {
			if err = x.dirAttrs(cfd, c.hdr); err == nil {
				err = setTimesAt(fd, name, c.hdr)
			}
			if err != nil {
				err = fmt.Errorf("extract %s: %w", c.hdr.Name, err)
			}
		}
		unix.Close(cfd)
		if err != nil {
			return err
		}
	}
	return nil
}

// finishRootDir applies the root's own entry.
func (x *Tree) finishRootDir(hdr *tar.Header) error {
	if err := x.dirAttrs(x.rootFD, hdr); err != nil {
		return err
	}
	mt := hdr.ModTime
	if err := os.Chtimes(x.root, mt, mt); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}
