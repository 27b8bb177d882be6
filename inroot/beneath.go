package inroot

import (
	"os"

	"golang.org/x/sys/unix"
)

// OpenBeneath opens rel below the directory dir with flags (plus
// O_CLOEXEC) and no symlink followed on the way or at the end, so a
// directory of rel that a less trusted writer swapped for a symlink
// cannot lead elsewhere: that is ELOOP, or EXDEV for a ".." that would
// leave dir. On kernels without openat2 (before 5.6) only the last
// component is checked.
func OpenBeneath(dir, rel string, flags int) (*os.File, error) {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := openat2(dfd, rel, &unix.OpenHow{Flags: uint64(flags),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
	if err == unix.ENOSYS {
		fd, err = unix.Openat(dfd, rel, flags, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir + "/" + rel, Err: err}
	}
	return os.NewFile(uintptr(fd), dir+"/"+rel), nil
}
