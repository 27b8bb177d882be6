package launch

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ResolveIn above returns a host path, which whoever uses it walks again
// by name: a writer of a directory on the way (a host volume mounted
// into the app) can swap a directory for a symlink in between and send
// the walk out of the root. The functions below return file descriptors
// instead, found by the kernel with RESOLVE_IN_ROOT, and create what is
// missing relative to the descriptor of its parent, so nothing is ever
// looked up twice by name.

// OpenRoot opens root as the anchor of OpenIn, MkdirAllIn and ParentIn.
func OpenRoot(root string) (*os.File, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return os.NewFile(uintptr(fd), root), nil
}

// OpenIn opens p as a process chrooted into root sees it, with O_PATH
// and flags: symlinks are followed with root as "/", ".." stops at
// root, and magic links (/proc/*/fd/*, /proc/*/root), which jump
// anywhere, are refused.
func OpenIn(root *os.File, p string, flags int) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_PATH | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(int(root.Fd()), p, &how)
		// EAGAIN: a rename raced a ".." and the kernel could not
		// prove it stayed in root. Retrying is safe; looping is not.
		if err == unix.EAGAIN && try < 16 {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: p, Err: err}
		}
		return os.NewFile(uintptr(fd), p), nil
	}
}

// MkdirAllIn returns the directory p inside root, creating what is
// missing one component at a time, each relative to its parent's
// descriptor. Symlinks on the way are followed inside root, a dangling
// one by creating its target, as ResolveIn does.
func MkdirAllIn(root *os.File, p string) (*os.File, error) {
	links := 0
	return mkdirAllIn(root, p, &links)
}

// ParentIn resolves all of p inside root but its last component,
// creating missing directories, and follows that last component while it
// is a symlink. It returns the directory holding p's object and the
// object's name there: never a symlink when looked at, perhaps missing,
// "." when p is a directory reached through "..". Callers work on the
// name with *at calls that do not follow symlinks, so a symlink swapped
// in afterwards is refused, never followed.
func ParentIn(root *os.File, p string) (*os.File, string, error) {
	links := 0
	return parentIn(root, p, &links)
}

func mkdirAllIn(root *os.File, p string, links *int) (*os.File, error) {
	f, err := OpenIn(root, p, unix.O_DIRECTORY)
	if !errors.Is(err, unix.ENOENT) {
		return f, err
	}
	dir, name, err := parentIn(root, p, links)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	if err := unix.Mkdirat(int(dir.Fd()), name, 0o755); err != nil && err != unix.EEXIST {
		return nil, &os.PathError{Op: "mkdir", Path: p, Err: err}
	}
	return OpenAt(dir, name, unix.O_DIRECTORY)
}

func parentIn(root *os.File, p string, links *int) (*os.File, string, error) {
	for {
		dirPath, name := splitLast(p)
		if name == "" || name == "." || name == ".." {
			// An *at call on ".." would climb out of the directory it
			// is given, root included: the kernel resolves it, once
			// what comes before it exists.
			return dotIn(root, dirPath, p, links)
		}
		dir, err := mkdirAllIn(root, dirPath, links)
		if err != nil {
			return nil, "", err
		}
		target, err := readlinkAt(dir, name)
		if err != nil {
			dir.Close()
			return nil, "", &os.PathError{Op: "readlink", Path: p, Err: err}
		}
		if target == "" {
			return dir, name, nil
		}
		dir.Close()
		if *links++; *links > maxSymlinks {
			return nil, "", &os.PathError{Op: "resolve", Path: p, Err: unix.ELOOP}
		}
		if !strings.HasPrefix(target, "/") {
			target = dirPath + "/" + target
		}
		p = target
	}
}

// dotIn makes dirPath and returns the directory p, which ends in "." or
// "..", with the name ".": *at calls on it act on that directory itself.
func dotIn(root *os.File, dirPath, p string, links *int) (*os.File, string, error) {
	d, err := mkdirAllIn(root, dirPath, links)
	if err != nil {
		return nil, "", err
	}
	d.Close()
	f, err := OpenIn(root, p, unix.O_DIRECTORY)
	return f, ".", err
}

// splitLast splits p before its last component, trailing slashes
// dropped. It does not clean p: with symlinks, a/b/.. is not a.
func splitLast(p string) (dir, name string) {
	p = strings.TrimRight(p, "/")
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ".", p
	}
	return p[:i+1], p[i+1:]
}

// readlinkAt returns the target of name in dir, "" when name is missing
// or not a symlink.
func readlinkAt(dir *os.File, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(int(dir.Fd()), name, buf)
	switch {
	case err == unix.EINVAL || err == unix.ENOENT:
		return "", nil
	case err != nil:
		return "", err
	case n == len(buf):
		return "", unix.ENAMETOOLONG
	}
	return string(buf[:n]), nil
}

// OpenAt opens name in dir (from ParentIn) with O_PATH and flags,
// refusing a symlink there: one swapped in after ParentIn looked is
// never followed.
func OpenAt(dir *os.File, name string, flags int) (*os.File, error) {
	path := dir.Name() + "/" + name
	fd, err := unix.Openat(int(dir.Fd()), name, flags|unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	// O_PATH|O_NOFOLLOW opens a symlink itself rather than failing.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
		unix.Close(fd)
		if err == nil {
			err = unix.ELOOP
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
