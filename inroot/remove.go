package inroot

import (
	"os"

	"golang.org/x/sys/unix"
)

// RemoveAt removes name in dir and, for a directory, all it holds, as
// os.RemoveAll would but relative to descriptors only: never through a
// symlink and never into a mount (EBUSY), so it removes nothing outside
// dir whatever is swapped in meanwhile. A missing name is no error.
func RemoveAt(dir int, name string) error {
	err := unix.Unlinkat(dir, name, 0)
	if err != unix.EISDIR {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	// Opening a mount point enters the mount: a volume's content is
	// not the mount point's to remove.
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, 0, &stx); err != nil {
		return err
	}
	if stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return unix.EBUSY
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := RemoveAt(fd, n); err != nil {
			return err
		}
	}
	return unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
}
