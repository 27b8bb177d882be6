// Package copytree copies the content of one directory into another
// through file descriptors, keeping owners, modes and modification times:
// what a stage1 does to fill an empty volume with the files of the image
// directory it is mounted over, as rkt and Docker do.
//
// Every entry is looked up relative to its parent's descriptor and never
// through a symlink, so a directory swapped for a symlink while the copy
// runs (the source may lie on a host volume others write) is never
// followed out of either tree.
package copytree

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Into copies what the directory src holds into the directory dst:
// directories, regular files, symlinks (the links themselves) and fifos,
// each with its owner, mode (setuid and setgid bits included) and
// modification time. Device nodes and sockets are left out: a node would
// not open in a volume, which is mounted nodev, and a socket is nothing
// without its listener. Hard links become copies. Entries dst already has
// are an error (EEXIST).
func Into(dst, src *os.File) error {
	return into(int(dst.Fd()), int(src.Fd()), src.Name())
}

// Attrs gives the directory dst the owner and mode of the directory src.
func Attrs(dst, src *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return &os.PathError{Op: "stat", Path: src.Name(), Err: err}
	}
	// Reopened: dst may be an O_PATH descriptor, which fchmod refuses.
	d, err := unix.Openat(int(dst.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dst.Name(), Err: err}
	}
	defer unix.Close(d)
	// chown first: it clears setuid and setgid bits that chmod then sets.
	if err := unix.Fchown(d, int(st.Uid), int(st.Gid)); err != nil {
		return &os.PathError{Op: "chown", Path: dst.Name(), Err: err}
	}
	if err := unix.Fchmod(d, st.Mode&07777); err != nil {
		return &os.PathError{Op: "chmod", Path: dst.Name(), Err: err}
	}
	return nil
}

func into(dst, src int, name string) error {
	d, err := unix.Openat(src, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	dir := os.NewFile(uintptr(d), name)
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := copyEntry(dst, d, n, name+"/"+n); err != nil {
			return err
		}
	}
	return nil
}

func copyEntry(dst, src int, n, path string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	var err error
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		err = copyDir(dst, src, n, path)
	case unix.S_IFREG:
		err = copyFile(dst, src, n, path, &st)
	case unix.S_IFLNK:
		err = copyLink(dst, src, n, path)
	case unix.S_IFIFO:
		err = unix.Mknodat(dst, n, unix.S_IFIFO|0o600, 0)
	default:
		return nil
	}
	if err != nil {
		return wrap("copy", path, err)
	}
	return setAttrs(dst, n, path, &st)
}

func copyDir(dst, src int, n, path string) error {
	if err := unix.Mkdirat(dst, n, 0o700); err != nil {
		return err
	}
	s, err := unix.Openat(src, n, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	d, err := unix.Openat(dst, n, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	return into(d, s, path)
}

func copyFile(dst, src int, n, path string, want *unix.Stat_t) error {
	// O_NONBLOCK: whatever was swapped in, opening never waits (a fifo).
	s, err := unix.Openat(src, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	in := os.NewFile(uintptr(s), path)
	defer in.Close()
	var st unix.Stat_t
	if err := unix.Fstat(s, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != want.Ino || st.Dev != want.Dev {
		return errors.New("replaced while copied")
	}
	d, err := unix.Openat(dst, n, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(d), path)
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func copyLink(dst, src int, n, path string) error {
	buf := make([]byte, unix.PathMax)
	l, err := unix.Readlinkat(src, n, buf)
	if err != nil {
		return err
	}
	if l == len(buf) {
		return unix.ENAMETOOLONG
	}
	return unix.Symlinkat(string(buf[:l]), dst, n)
}

// setAttrs gives name in dst the owner, mode and times of st, never
// following a symlink (a symlink's own mode cannot change).
func setAttrs(dst int, n, path string, st *unix.Stat_t) error {
	if err := unix.Fchownat(dst, n, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return wrap("chown", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Fchmodat(dst, n, st.Mode&07777, 0); err != nil {
			return wrap("chmod", path, err)
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(dst, n, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return wrap("set times of", path, err)
	}
	return nil
}

func wrap(op, path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}
