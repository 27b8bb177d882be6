package aci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// ExtractOptions tune Extract.
type ExtractOptions struct {
	// RootfsOnly writes the rootfs content straight into dest and skips
	// the manifest.
	RootfsOnly bool
	// Overwrite replaces entries already present in dest, as layering
	// dependencies requires: a later entry wins over an existing file,
	// symlink or directory (a symlink is never followed to a directory
	// in its place). Without it, an existing non-directory is an error.
	Overwrite bool
	// PathWhitelist, when not empty, lists the absolute rootfs paths to
	// extract (appc pathWhitelist). Directories that are listed or lie
	// above a listed path are extracted too; everything else is skipped.
	PathWhitelist []string
}

// Extract writes the entries of an uncompressed ACI tar below dest
// (dest/manifest and dest/rootfs, or just the rootfs content with
// RootfsOnly), creating dest if needed.
//
// No entry can reach outside the tree: paths are resolved by the kernel
// (openat2 RESOLVE_IN_ROOT) with the rootfs as root, so an absolute or
// climbing symlink inside the image is interpreted as it would be after
// chroot into the rootfs, never against the host. Ownership is restored
// when running as root; modes (including setuid), mtimes, devices, fifos,
// hardlinks and xattrs are restored always. Directory modes and times are
// set after their content.
func Extract(plainTar io.Reader, dest string, opts ExtractOptions) error {
	var filters []whitelist
	if len(opts.PathWhitelist) > 0 {
		filters = append(filters, newWhitelist(opts.PathWhitelist))
	}
	return extract(plainTar, dest, extractConfig{
		rootfsOnly:   opts.RootfsOnly,
		skipManifest: opts.RootfsOnly,
		overwrite:    opts.Overwrite,
		filters:      filters,
	})
}

type extractConfig struct {
	rootfsOnly   bool
	skipManifest bool
	overwrite    bool
	filters      []whitelist // an entry must pass all of them
}

func extract(r io.Reader, dest string, cfg extractConfig) error {
	x, err := newExtractor(dest, cfg)
	if err != nil {
		return err
	}
	defer x.close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tarError(err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	return x.finishDirs()
}

// maxCachedDirs bounds the open directory descriptors kept between
// entries; archives list a directory's files together, so a small cache
// catches nearly every lookup.
const maxCachedDirs = 128

type extractor struct {
	cfg      extractConfig
	dest     string
	destFD   int // dest itself
	rootFD   int // the rootfs: dest/rootfs, or dest with rootfsOnly
	chown    bool
	dirs     map[string]int // rootfs-relative dir path -> open fd
	retired  []int          // dropped from dirs, closed before the next entry
	deferred map[string]*tar.Header
	skipped  map[string]bool // regular files filtered out by a whitelist
	buf      []byte
}

func newExtractor(dest string, cfg extractConfig) (*extractor, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	destFD, err := unix.Open(dest, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("extract: open %s: %w", dest, err)
	}
	x := &extractor{
		cfg: cfg, dest: dest, destFD: destFD, rootFD: -1,
		chown:    os.Geteuid() == 0,
		dirs:     map[string]int{},
		deferred: map[string]*tar.Header{},
		skipped:  map[string]bool{},
	}
	if cfg.rootfsOnly {
		x.rootFD, err = unix.Dup(destFD)
		if err != nil {
			x.close()
			return nil, fmt.Errorf("extract: %w", err)
		}
		return x, nil
	}
	if err := unix.Mkdirat(destFD, RootfsName, 0o755); err != nil && err != unix.EEXIST {
		x.close()
		return nil, fmt.Errorf("extract: create %s/rootfs: %w", dest, err)
	}
	x.rootFD, err = unix.Openat(destFD, RootfsName, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		x.close()
		return nil, fmt.Errorf("extract: open %s/rootfs: %w", dest, err)
	}
	return x, nil
}

func (x *extractor) close() {
	x.dropDirCache()
	x.closeRetired()
	if x.rootFD >= 0 {
		unix.Close(x.rootFD)
	}
	unix.Close(x.destFD)
}

// dropDirCache forgets every cached directory. The descriptors stay open
// until the next entry starts, because the entry being extracted may still
// be using one of them.
func (x *extractor) dropDirCache() {
	for _, fd := range x.dirs {
		x.retired = append(x.retired, fd)
	}
	clear(x.dirs)
}

func (x *extractor) closeRetired() {
	for _, fd := range x.retired {
		unix.Close(fd)
	}
	x.retired = x.retired[:0]
}

func (x *extractor) entry(hdr *tar.Header, body io.Reader) error {
	x.closeRetired()
	name, err := EntryName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // the archive's top directory: dest itself
	}
	if name == ManifestName {
		if x.cfg.skipManifest {
			return nil
		}
		if hdr.Typeflag != tar.TypeReg {
			return errors.New("invalid ACI: manifest is not a regular file")
		}
		return x.create(x.destFD, ManifestName, ManifestName, &tar.Header{
			Name: hdr.Name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: hdr.ModTime, Size: hdr.Size,
		}, body)
	}
	if err := checkEntryType(name, hdr); err != nil {
		return err
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(name, RootfsName), "/") // "" is the rootfs itself
	if !x.allowed(rel, hdr.Typeflag == tar.TypeDir) {
		if hdr.Typeflag == tar.TypeReg {
			x.skipped[rel] = true
		}
		return nil
	}
	if rel == "" {
		x.deferred[rel] = hdr
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

func (x *extractor) allowed(rel string, isDir bool) bool {
	for _, w := range x.cfg.filters {
		if !w.allows(rel, isDir) {
			return false
		}
	}
	return true
}

// dirFD returns an open descriptor of the rootfs directory rel, creating
// missing directories (mode 0755) on the way as tar does.
func (x *extractor) dirFD(rel string) (int, error) {
	if rel == "" {
		return x.rootFD, nil
	}
	if fd, ok := x.dirs[rel]; ok {
		return fd, nil
	}
	fd, err := openInRoot(x.rootFD, rel)
	if errors.Is(err, unix.ENOENT) {
		fd, err = x.mkdirImplicit(rel)
	}
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("parent %s is not a directory", rel)
		}
		return -1, fmt.Errorf("open parent %s: %w", rel, err)
	}
	if len(x.dirs) >= maxCachedDirs {
		x.dropDirCache()
	}
	x.dirs[rel] = fd
	return fd, nil
}

func (x *extractor) mkdirImplicit(rel string) (int, error) {
	dir, base := path.Split(rel)
	pfd, err := x.dirFD(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return -1, err
	}
	err = unix.Mkdirat(pfd, base, 0o755)
	if err == unix.EEXIST {
		// Something is there, yet resolving it found nothing: a symlink
		// whose target is missing. tar refuses those too.
		fd, err := openInRoot(x.rootFD, rel)
		if err == unix.ENOENT {
			return -1, fmt.Errorf("parent %s is a dangling symlink", rel)
		}
		return fd, err
	}
	if err != nil {
		return -1, err
	}
	return openInRoot(x.rootFD, rel)
}

// openInRoot opens directory rel below root as if root were "/": "..",
// absolute symlinks and magic links cannot leave it.
func openInRoot(root int, rel string) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for range 16 {
		fd, err := unix.Openat2(root, rel, how)
		// EAGAIN: a concurrent rename raced the in-root ".." check; retry.
		if err != unix.EAGAIN && err != unix.EINTR {
			if err == unix.ENOSYS {
				return -1, errors.New("kernel lacks openat2 (Linux 5.6 or newer is required)")
			}
			return fd, err
		}
	}
	return -1, fmt.Errorf("open %s: %w", rel, unix.EAGAIN)
}

// create makes the entry base in the directory pfd.
func (x *extractor) create(pfd int, rel, base string, hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeDir {
		return x.mkdir(pfd, rel, base, hdr)
	}
	err := x.createNonDir(pfd, rel, base, hdr, body)
	if err != unix.EEXIST {
		return err
	}
	if !x.cfg.overwrite {
		return errors.New("file exists")
	}
	if err := x.remove(pfd, base); err != nil {
		return err
	}
	return x.createNonDir(pfd, rel, base, hdr, body)
}

// remove deletes what is at base in pfd, a whole tree for a directory.
func (x *extractor) remove(pfd int, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR || st.Mode&unix.S_IFMT == unix.S_IFLNK {
		// Cached descriptors may have been resolved through what goes away.
		x.dropDirCache()
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := removeAllAt(pfd, base); err != nil {
			return fmt.Errorf("replace directory: %w", err)
		}
		return nil
	}
	if err := unix.Unlinkat(pfd, base, 0); err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	return nil
}

// removeAllAt removes base in pfd and everything below it without ever
// following a symlink.
func removeAllAt(pfd int, base string) error {
	err := unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.ENOTEMPTY && err != unix.EEXIST {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			f.Close()
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = removeAllAt(fd, n)
		} else {
			err = unix.Unlinkat(fd, n, 0)
		}
		if err != nil && err != unix.ENOENT {
			f.Close()
			return err
		}
	}
	f.Close()
	return unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
}

func (x *extractor) mkdir(pfd int, rel, base string, hdr *tar.Header) error {
	err := unix.Mkdirat(pfd, base, 0o700)
	if err == unix.EEXIST {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if !x.cfg.overwrite {
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
func (x *extractor) createNonDir(pfd int, rel, base string, hdr *tar.Header, body io.Reader) error {
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

func (x *extractor) writeFile(pfd int, base, rel string, hdr *tar.Header, body io.Reader) error {
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

func (x *extractor) fillFile(f *os.File, hdr *tar.Header, body io.Reader) error {
	if hdr.Size > 0 {
		if x.buf == nil {
			x.buf = make([]byte, readBufSize)
		}
		// The wrappers hide ReadFrom/WriteTo so the copy uses our large
		// buffer instead of a small internal one.
		n, err := io.CopyBuffer(struct{ io.Writer }{f}, struct{ io.Reader }{body}, x.buf)
		if err != nil {
			return tarError(err)
		}
		if n != hdr.Size {
			return tarError(io.ErrUnexpectedEOF)
		}
	}
	// Order matters: chown clears setuid bits and file capabilities, so
	// the mode and xattrs come after it.
	if x.chown {
		if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := unix.Fchmod(int(f.Fd()), tarMode(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return setXattrs(int(f.Fd()), hdr)
}

// tarMode keeps the permission, setuid, setgid and sticky bits.
func tarMode(hdr *tar.Header) uint32 {
	return uint32(hdr.Mode) & 0o7777
}

func (x *extractor) hardlink(pfd int, base string, hdr *tar.Header) error {
	target, err := EntryName(hdr.Linkname)
	if err != nil || (target != RootfsName && !strings.HasPrefix(target, RootfsName+"/")) {
		return fmt.Errorf("hardlink target %q outside rootfs", hdr.Linkname)
	}
	trel := strings.TrimPrefix(strings.TrimPrefix(target, RootfsName), "/")
	if x.skipped[trel] {
		return fmt.Errorf("hardlink target %q is excluded by the path whitelist", hdr.Linkname)
	}
	tdir, tbase := path.Split(trel)
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

func (x *extractor) mknod(pfd int, base string, hdr *tar.Header) error {
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
func (x *extractor) setAttrsAt(pfd int, base string, hdr *tar.Header, symlink bool) error {
	if x.chown {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if !symlink {
		// base is the device or fifo we just made, so following is safe.
		if err := unix.Fchmodat(pfd, base, tarMode(hdr), 0); err != nil {
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

func setXattrs(fd int, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattrPrefix)
		if !ok {
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

// finishDirs applies directory owners, modes, xattrs and times deepest
// first, after all content is in place, so neither a read-only mode nor
// the creation of children spoils them.
func (x *extractor) finishDirs() error {
	rels := make([]string, 0, len(x.deferred))
	for rel := range x.deferred {
		rels = append(rels, rel)
	}
	sort.Slice(rels, func(i, j int) bool {
		di, dj := depth(rels[i]), depth(rels[j])
		if di != dj {
			return di > dj
		}
		return rels[i] < rels[j]
	})
	for _, rel := range rels {
		x.closeRetired()
		if err := x.finishDir(rel, x.deferred[rel]); err != nil {
			return fmt.Errorf("extract %s: %w", x.deferred[rel].Name, err)
		}
	}
	return nil
}

// depth orders directories for finishDirs; the rootfs itself comes last.
func depth(rel string) int {
	if rel == "" {
		return -1
	}
	return strings.Count(rel, "/")
}

func (x *extractor) finishDir(rel string, hdr *tar.Header) error {
	var pfd int
	var base string
	switch {
	case rel != "":
		dir, b := path.Split(rel)
		fd, err := x.dirFD(strings.TrimSuffix(dir, "/"))
		if err != nil {
			return err
		}
		pfd, base = fd, b
	case !x.cfg.rootfsOnly:
		pfd, base = x.destFD, RootfsName
	default:
		return x.finishRootDir(hdr)
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOTDIR || err == unix.ELOOP || err == unix.ENOENT {
		return nil // replaced by a later entry of the archive
	}
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer unix.Close(fd)
	if err := x.dirAttrs(fd, hdr); err != nil {
		return err
	}
	return setTimesAt(pfd, base, hdr)
}

// finishRootDir handles the rootfs entry when it is dest itself.
func (x *extractor) finishRootDir(hdr *tar.Header) error {
	if err := x.dirAttrs(x.rootFD, hdr); err != nil {
		return err
	}
	mt := hdr.ModTime
	if err := os.Chtimes(x.dest, mt, mt); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func (x *extractor) dirAttrs(fd int, hdr *tar.Header) error {
	if x.chown {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := unix.Fchmod(fd, tarMode(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return setXattrs(fd, hdr)
}

// whitelist is one image's pathWhitelist, as rootfs-relative paths.
type whitelist struct {
	paths   map[string]bool
	parents map[string]bool // directories above a listed path
}

func newWhitelist(list []string) whitelist {
	w := whitelist{paths: map[string]bool{}, parents: map[string]bool{"": true}}
	for _, p := range list {
		rel := strings.TrimPrefix(path.Clean("/"+p), "/")
		w.paths[rel] = true
		for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
			w.parents[d] = true
		}
	}
	return w
}

func (w whitelist) allows(rel string, isDir bool) bool {
	return w.paths[rel] || (isDir && w.parents[rel])
}
