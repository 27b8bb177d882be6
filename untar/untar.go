// Package untar writes the entries of tar archives into a directory tree
// that no entry can leave. It is what ACI extraction (aci/) and the
// application of OCI image layers (oci/) share: every path is resolved by
// the kernel (openat2 RESOLVE_IN_ROOT) with the tree's root as "/", so an
// absolute or climbing symlink inside the tree is interpreted as it would
// be after chroot into it, never against the host; nothing is created
// through a symlink in its last component; directories are removed
// without following symlinks.
//
// Ownership is restored when running as root; modes (including setuid),
// mtimes, devices, fifos, hardlinks and xattrs are restored always.
// Directory modes and times are set after their content (Finish).
// Callers decide which entries an archive may hold (names are checked
// with CleanName) and map archive names to paths relative to the root.
package untar

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/inroot"
)

// Options tune a Tree.
type Options struct {
	// Overwrite replaces entries already present, as layering images
	// requires: a later entry wins over an existing file, symlink or
	// directory (a symlink is never followed to a directory in its
	// place). Without it, an existing non-directory is an error.
	Overwrite bool
	// HostSafe is for trees that host users may reach (an extracted
	// image given to the operator): device nodes are not made (an entry
	// of one is skipped, and so are hard links to it), setuid and setgid
	// bits of non-directories are cleared, and only user.* extended
	// attributes are restored (security.capability would grant as
	// setuid does).
	HostSafe bool
}

// readBufSize is the copy buffer of file contents: archives are read
// sequentially and can be large.
const readBufSize = 1 << 20

// paxXattrPrefix is how GNU tar, bsdtar and Go store extended attributes.
const paxXattrPrefix = "SCHILY.xattr."

// ErrTruncated is wrapped by the error for a file whose archive data ends
// early.
var ErrTruncated = errors.New("truncated archive")

// Tree is a directory that archive entries are written into. It is not
// safe for concurrent use.
type Tree struct {
	overwrite bool
	hostSafe  bool
	skipped   map[string]bool // device nodes HostSafe left out, by rel
	root      string          // the root's path, for messages and its own times
	rootFD    int
	chown     bool
	dirs      dirCache // open descriptors of directories, by root-relative path
	retired   []int    // dropped from dirs, closed before the next entry
	deferred  map[string]*tar.Header
	buf       []byte
	walked    int // path components resolved, for tests
}

// Open opens root (creating it and its parents, mode 0755, if needed) as
// a Tree.
func Open(root string, opts Options) (*Tree, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("extract: open %s: %w", root, err)
	}
	return newTree(root, fd, opts), nil
}

func newTree(root string, fd int, opts Options) *Tree {
	return &Tree{
		overwrite: opts.Overwrite,
		hostSafe:  opts.HostSafe,
		skipped:   map[string]bool{},
		root:      root,
		rootFD:    fd,
		chown:     os.Geteuid() == 0,
		dirs:      newDirCache(),
		deferred:  map[string]*tar.Header{},
	}
}

// Sub opens the directory name directly below x's root (creating it, mode
// 0755, if missing; never through a symlink) as a Tree of its own with
// x's options.
func (x *Tree) Sub(name string) (*Tree, error) {
	if err := unix.Mkdirat(x.rootFD, name, 0o755); err != nil && err != unix.EEXIST {
		return nil, fmt.Errorf("extract: create %s/%s: %w", x.root, name, err)
	}
	fd, err := unix.Openat(x.rootFD, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("extract: open %s/%s: %w", x.root, name, err)
	}
	return newTree(path.Join(x.root, name), fd, Options{Overwrite: x.overwrite, HostSafe: x.hostSafe}), nil
}

// Close releases the Tree's descriptors.
func (x *Tree) Close() {
	x.dropDirCache()
	x.closeRetired()
	unix.Close(x.rootFD)
}

func (x *Tree) closeRetired() {
	for _, fd := range x.retired {
		unix.Close(fd)
	}
	x.retired = x.retired[:0]
}

// Entry writes the archive entry hdr (with its content body) at rel, a
// clean path relative to the root ("" is the root itself, whose owner,
// mode and times Finish applies). Missing parent directories are created
// (mode 0755) as tar does. For a hard link, hdr.Linkname is the target's
// path relative to the root, as clean as rel; the target must exist.
// Errors name hdr.Name.
func (x *Tree) Entry(rel string, hdr *tar.Header, body io.Reader) error {
	x.closeRetired()
	if rel == "" {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("extract %s: the root is not a directory", hdr.Name)
		}
		x.deferred[rel] = hdr
		return nil
	}
	if x.leaveOut(rel, hdr) {
		// What an earlier layer had there goes, as the entry would
		// have replaced it.
		if x.overwrite {
			return x.Remove(rel)
		}
		return nil
	}
	dir, base := path.Split(rel)
	pfd, err := x.dirFD(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	if err := x.create(pfd, rel, base, hdr, body); err != nil {
		return fmt.Errorf("extract %s: %w", hdr.Name, err)
	}
	return nil
}

// leaveOut reports whether HostSafe leaves the entry hdr at rel out: a
// device node, or a hard link to one.
func (x *Tree) leaveOut(rel string, hdr *tar.Header) bool {
	if !x.hostSafe {
		return false
	}
	if hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock || hdr.Typeflag == tar.TypeLink && x.skipped[hdr.Linkname] {
		x.skipped[rel] = true
		return true
	}
	delete(x.skipped, rel)
	return false
}

// Remove deletes what is at rel, a whole tree for a directory, without
// following a symlink on the way or at the end; nothing there is no
// error. rel's parent is resolved inside the root.
func (x *Tree) Remove(rel string) error {
	x.closeRetired()
	if rel == "" {
		return errors.New("cannot remove the root")
	}
	dir, base := path.Split(rel)
	pfd, err := x.lookupDir(strings.TrimSuffix(dir, "/"))
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == unix.ENOENT {
		return nil
	}
	if err := x.remove(pfd, base); err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	return nil
}

// RemoveBelow deletes everything below the directory rel ("" is the root)
// for which keep returns false; keep gets root-relative paths, and a kept
// directory is searched in turn. rel missing or not a directory is no
// error.
func (x *Tree) RemoveBelow(rel string, keep func(rel string) bool) error {
	x.closeRetired()
	fd, err := x.lookupDir(rel)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clear %s: %w", rel, err)
	}
	if err := x.removeBelow(fd, rel, keep); err != nil {
		return fmt.Errorf("clear %s: %w", rel, err)
	}
	return nil
}

func (x *Tree) removeBelow(fd int, rel string, keep func(string) bool) error {
	names, err := readDirNames(fd)
	if err != nil {
		return err
	}
	for _, n := range names {
		crel := path.Join(rel, n)
		if !keep(crel) {
			if err := x.remove(fd, n); err != nil {
				return err
			}
			continue
		}
		cfd, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOTDIR || err == unix.ELOOP {
			continue
		}
		if err != nil {
			return err
		}
		err = x.removeBelow(cfd, crel, keep)
		unix.Close(cfd)
		if err != nil {
			return err
		}
	}
	return nil
}

// readDirNames lists the directory fd without consuming fd's offset for
// anyone else (it reads through a duplicate of its own).
func readDirNames(fd int) ([]string, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), ".")
	defer f.Close()
	return f.Readdirnames(-1)
}

// create makes the entry base in the directory pfd.
func (x *Tree) create(pfd int, rel, base string, hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeDir {
		return x.mkdir(pfd, rel, base, hdr)
	}
	err := x.createNonDir(pfd, rel, base, hdr, body)
	if err != unix.EEXIST {
		return err
	}
	if !x.overwrite {
		return errors.New("file exists")
	}
	if err := x.remove(pfd, base); err != nil {
		return err
	}
	return x.createNonDir(pfd, rel, base, hdr, body)
}

// remove deletes what is at base in pfd, a whole tree for a directory.
func (x *Tree) remove(pfd int, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR || st.Mode&unix.S_IFMT == unix.S_IFLNK {
		// Cached descriptors may have been resolved through what goes away.
		x.dropDirCache()
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := inroot.RemoveAt(pfd, base); err != nil {
			return fmt.Errorf("replace directory: %w", err)
		}
		return nil
	}
	if err := unix.Unlinkat(pfd, base, 0); err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	return nil
}

func (x *Tree) mkdir(pfd int, rel, base string, hdr *tar.Header) error {
	err := unix.Mkdirat(pfd, base, 0o700)
	if err == unix.EEXIST {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if !x.overwrite {
				return errors.New("file exists and is not a directory")
			}
			if err := x.remove(pfd, base); err != nil {
				return err
			}
			err = unix.Mkdirat(pfd, base, 0o700)
		} else {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	x.deferred[rel] = hdr
	return nil
}

// createNonDir returns a bare unix.EEXIST when base is already taken, so
// create can decide whether to replace it.
func (x *Tree) createNonDir(pfd int, rel, base string, hdr *tar.Header, body io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeReg:
		return x.writeFile(pfd, base, rel, hdr, body)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return eexistOr(err, "symlink")
		}
		return x.setAttrsAt(pfd, base, hdr, true)
	case tar.TypeLink:
		return x.hardlink(pfd, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.mknod(pfd, base, hdr)
	}
	return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
}

func eexistOr(err error, what string) error {
	if err == nil || err == unix.EEXIST {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (x *Tree) writeFile(pfd int, base, rel string, hdr *tar.Header, body io.Reader) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return eexistOr(err, "create")
	}
	f := os.NewFile(uintptr(fd), rel)
	if err := x.fillFile(f, hdr, body); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return setTimesAt(pfd, base, hdr)
}

func (x *Tree) fillFile(f *os.File, hdr *tar.Header, body io.Reader) error {
	if hdr.Size > 0 {
		if x.buf == nil {
			x.buf = make([]byte, readBufSize)
		}
		// The wrappers hide ReadFrom/WriteTo so the copy uses our large
		// buffer instead of a small internal one.
		n, err := io.CopyBuffer(struct{ io.Writer }{f}, struct{ io.Reader }{body}, x.buf)
		if err != nil {
			return readError(err)
		}
		if n != hdr.Size {
			return readError(io.ErrUnexpectedEOF)
		}
	}
	// Order matters: chown clears setuid bits and file capabilities, so
	// the mode and xattrs come after it.
	if x.chown {
		if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := unix.Fchmod(int(f.Fd()), x.fileMode(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return x.setXattrs(int(f.Fd()), hdr)
}

func readError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	return fmt.Errorf("read archive: %w", err)
}

// tarMode keeps the permission, setuid, setgid and sticky bits.
func tarMode(hdr *tar.Header) uint32 {
	return uint32(hdr.Mode) & 0o7777
}

// fileMode is tarMode for a non-directory, without setuid and setgid
// when the tree is HostSafe.
func (x *Tree) fileMode(hdr *tar.Header) uint32 {
	if x.hostSafe {
		return tarMode(hdr) &^ (unix.S_ISUID | unix.S_ISGID)
	}
	return tarMode(hdr)
}

func (x *Tree) hardlink(pfd int, base string, hdr *tar.Header) error {
	tdir, tbase := path.Split(hdr.Linkname)
	if tbase == "" {
		return fmt.Errorf("hardlink target %q is not a file", hdr.Linkname)
	}
	tfd, err := x.dirFD(strings.TrimSuffix(tdir, "/"))
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
	err = unix.Linkat(tfd, tbase, pfd, base, 0)
	if err == unix.ENOENT {
		return fmt.Errorf("hardlink target %q not extracted yet", hdr.Linkname)
	}
	return eexistOr(err, "hardlink")
}

func (x *Tree) mknod(pfd int, base string, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	if err := unix.Mknodat(pfd, base, mode|0o600, int(dev)); err != nil {
		return eexistOr(err, "mknod")
	}
	return x.setAttrsAt(pfd, base, hdr, false)
}

// setAttrsAt sets owner, mode and times of base in pfd, which was just
// created by us and is not a directory; symlinks only get owner and times.
func (x *Tree) setAttrsAt(pfd int, base string, hdr *tar.Header, symlink bool) error {
	if x.chown {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if !symlink {
		// base is the device or fifo we just made, so following is safe.
		if err := unix.Fchmodat(pfd, base, x.fileMode(hdr), 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	return setTimesAt(pfd, base, hdr)
}

func setTimesAt(pfd int, base string, hdr *tar.Header) error {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func (x *Tree) setXattrs(fd int, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattrPrefix)
		if !ok || x.hostSafe && !strings.HasPrefix(name, "user.") {
			continue
		}
		if err := unix.Fsetxattr(fd, name, []byte(v), 0); err != nil {
			if err == unix.ENOTSUP {
				continue // the target filesystem cannot hold it; tar skips too
			}
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	return nil
}

func (x *Tree) dirAttrs(fd int, hdr *tar.Header) error {
	if x.chown {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := unix.Fchmod(fd, tarMode(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return x.setXattrs(fd, hdr)
}

// CleanName returns the clean form of an archive entry name ("./a/b/"
// becomes "a/b", "./" becomes ".") and rejects empty names, names with a
// NUL byte and names that climb with "..". A leading "/" is kept, for the
// caller to refuse or strip.
func CleanName(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("entry with empty name")
	}
	if strings.ContainsRune(raw, 0) {
		return "", fmt.Errorf("entry name %q contains NUL", raw)
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry name %q contains \"..\"", raw)
		}
	}
	return path.Clean(raw), nil
}

// SymlinkGuard refuses an archive entry that lies below a symlink an
// earlier entry of the same archive made. Tar tools never write such
// entries (they do not descend into symlinks); an archive that does is
// trying to make its extraction write where the symlink points.
//
// The symlinks are kept as a tree of name components, so checking an
// entry walks its name once and stops where no recorded symlink lies
// below: the work does not grow with the depth of the entries.
type SymlinkGuard struct {
	root    linkNode
	lookups int // components looked up, for tests
}

// linkNode is one name component on the way to recorded symlinks.
type linkNode struct {
	children map[string]*linkNode
	link     bool   // this name is a symlink
	target   string // its target, for messages
}

// Check records hdr, whose clean name is name, and returns an error if
// name lies below a symlink recorded earlier.
func (g *SymlinkGuard) Check(name string, hdr *tar.Header) error {
	n := &g.root
	rest := name
	for {
		comp, tail, more := strings.Cut(rest, "/")
		if !more {
			// comp is name's last component.
			return g.record(n, comp, hdr)
		}
		g.lookups++
		child := n.children[comp]
		if child == nil {
			// No symlink lies at or below this prefix.
			if hdr.Typeflag != tar.TypeSymlink {
				return nil
			}
			child = n.add(comp)
		} else if child.link {
			dir := name[:len(name)-len(tail)-1]
			return fmt.Errorf("entry %q lies below the symlink %s -> %s", hdr.Name, dir, child.target)
		}
		n, rest = child, tail
	}
}

// record notes that the entry last, below n, is hdr: a symlink now, or
// no longer one.
func (g *SymlinkGuard) record(n *linkNode, last string, hdr *tar.Header) error {
	g.lookups++
	child := n.children[last]
	if hdr.Typeflag == tar.TypeSymlink {
		if child == nil {
			child = n.add(last)
		}
		child.link, child.target = true, hdr.Linkname
	} else if child != nil {
		child.link, child.target = false, ""
	}
	return nil
}

func (n *linkNode) add(comp string) *linkNode {
	if n.children == nil {
		n.children = map[string]*linkNode{}
	}
	c := &linkNode{}
	n.children[comp] = c
	return c
}

// Linux's limits on paths (with their terminating NUL) and names.
const (
	PathMax = 4096
	NameMax = 255
)

// CheckLengths refuses an entry that no tree can hold: its path in the
// tree ("/" and the root-relative rel) longer than PATH_MAX, a component
// longer than NAME_MAX, or a symlink target longer than PATH_MAX.
func CheckLengths(rel string, hdr *tar.Header) error {
	inRoot := "/" + strings.TrimPrefix(rel, "/")
	if len(inRoot)+1 > PathMax {
		return fmt.Errorf("entry %s: its path is %d bytes long, beyond PATH_MAX (%d)", clip.String(hdr.Name), len(inRoot)-1, PathMax-1)
	}
	for comp := range strings.SplitSeq(inRoot, "/") {
		if len(comp) > NameMax {
			return fmt.Errorf("entry %s: a name in its path is %d bytes long, beyond NAME_MAX (%d)", clip.String(hdr.Name), len(comp), NameMax)
		}
	}
	if hdr.Typeflag == tar.TypeSymlink && len(hdr.Linkname)+1 > PathMax {
		return fmt.Errorf("symlink %s: its target is %d bytes long, beyond PATH_MAX (%d)", clip.String(hdr.Name), len(hdr.Linkname), PathMax-1)
	}
	return nil
}
