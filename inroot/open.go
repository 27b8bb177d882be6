package inroot

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenRoot opens root as the anchor of Open, MkdirAll and Parent.
func OpenRoot(root string) (*os.File, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return os.NewFile(uintptr(fd), root), nil
}

// Open opens p as a process chrooted into root sees it, with O_PATH
// and flags: symlinks are followed with root as "/", ".." stops at
// root, and magic links (/proc/*/fd/*, /proc/*/root), which jump
// anywhere, are refused.
func Open(root *os.File, p string, flags int) (*os.File, error) {
	fd, err := OpenFD(int(root.Fd()), p, flags|unix.O_PATH)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// OpenFD is Open on the descriptor rootFD with flags as given (plus
// O_CLOEXEC), for callers that read or write what they open and keep
// descriptors as numbers. The error is the kernel's, ENOSYS on a kernel
// older than 5.6, which has no openat2.
func OpenFD(rootFD int, p string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	return openat2(rootFD, p, &how)
}

// openat2 retries the two errors that say nothing about the path.
// EAGAIN: a rename raced a ".." and the kernel could not prove the walk
// stayed in root; retrying is safe, looping forever is not.
func openat2(dir int, p string, how *unix.OpenHow) (int, error) {
	for try := 0; ; try++ {
		fd, err := unix.Openat2(dir, p, how)
		if (err == unix.EAGAIN || err == unix.EINTR) && try < 16 {
			continue
		}
		return fd, err
	}
}

// MkdirAll returns the directory p inside root, creating what is
// missing one component at a time, each relative to its parent's
// descriptor. Symlinks on the way are followed inside root, a dangling
// one by creating its target, as Resolve does.
func MkdirAll(root *os.File, p string) (*os.File, error) {
	links := 0
	return mkdirAll(root, p, &links)
}

// Parent resolves all of p inside root but its last component,
// creating missing directories, and follows that last component while it
// is a symlink. It returns the directory holding p's object and the
// object's name there: never a symlink when looked at, perhaps missing,
// "." when p is a directory reached through "..". Callers work on the
// name with *at calls that do not follow symlinks, so a symlink swapped
// in afterwards is refused, never followed.
func Parent(root *os.File, p string) (*os.File, string, error) {
	links := 0
	return parent(root, p, &links)
}

func mkdirAll(root *os.File, p string, links *int) (*os.File, error) {
	f, err := Open(root, p, unix.O_DIRECTORY)
	if !errors.Is(err, unix.ENOENT) {
		return f, err
	}
	dir, name, err := parent(root, p, links)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	if err := unix.Mkdirat(int(dir.Fd()), name, 0o755); err != nil && err != unix.EEXIST {
		return nil, &os.PathError{Op: "mkdir", Path: p, Err: err}
	}
	return OpenAt(dir, name, unix.O_DIRECTORY)
}

func parent(root *os.File, p string, links *int) (*os.File, string, error) {
	for {
		dirPath, name := splitLast(p)
		if name == "" || name == "." || name == ".." {
			// An *at call on ".." would climb out of the directory it
			// is given, root included: the kernel resolves it, once
			// what comes before it exists.
			return dot(root, dirPath, p, links)
		}
		dir, err := mkdirAll(root, dirPath, links)
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

// dot makes dirPath and returns the directory p, which ends in "." or
// "..", with the name ".": *at calls on it act on that directory itself.
func dot(root *os.File, dirPath, p string, links *int) (*os.File, string, error) {
	d, err := mkdirAll(root, dirPath, links)
	if err != nil {
		return nil, "", err
	}
	d.Close()
	f, err := Open(root, p, unix.O_DIRECTORY)
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

// OpenAt opens name in dir (from Parent) with O_PATH and flags,
// refusing a symlink there: one swapped in after Parent looked is
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
