package fdmount

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/inroot"
)

// Target returns the mount point for p inside root, of the right
// type: a directory for a directory source (replacing a file there, as
// the ACE spec says), a file for a file source (replacing a directory).
// Everything is done relative to the descriptor of p's parent, with
// symlinks there refused, so a writer of a volume on the way can make it
// fail but not act elsewhere.
func Target(root *os.File, p string, dir bool) (*os.File, error) {
	parent, name, err := inroot.Parent(root, p)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	t, err := TargetAt(parent, name, dir)
	if err != nil {
		return nil, fmt.Errorf("mount point %s: %w", p, err)
	}
	if IsRoot(t, root) {
		t.Close()
		return nil, fmt.Errorf("mount point %s resolves to the app's root", p)
	}
	return t, nil
}

// TargetAt returns name in parent (as inroot.Parent found them) as a
// mount point of the right type, made or replaced if need be.
func TargetAt(parent *os.File, name string, dir bool) (*os.File, error) {
	if err := clearTarget(parent, name, dir); err != nil {
		return nil, err
	}
	if err := createTarget(parent, name, dir); err != nil {
		return nil, err
	}
	fl := 0
	if dir {
		fl = unix.O_DIRECTORY
	}
	return inroot.OpenAt(parent, name, fl)
}

// clearTarget removes name in parent if it is not of the type the mount
// needs.
func clearTarget(parent *os.File, name string, dir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(int(parent.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return err
	}
	if (st.Mode&unix.S_IFMT == unix.S_IFDIR) == dir {
		return nil
	}
	if name == "." {
		// A path ending in ".." names a directory with no name in a
		// parent here: replacing it would empty it, the rootfs maybe.
		return fmt.Errorf("a directory reached through .. cannot be replaced by a file")
	}
	return inroot.RemoveAt(int(parent.Fd()), name)
}

// createTarget makes name in parent, a directory or an empty file, unless
// something is there already. O_EXCL never opens (or follows) what is
// there: a device node swapped in is not opened for writing.
func createTarget(parent *os.File, name string, dir bool) error {
	if dir {
		err := unix.Mkdirat(int(parent.Fd()), name, 0o755)
		if err == unix.EEXIST {
			return nil
		}
		return err
	}
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err == unix.EEXIST {
		return nil
	}
	if err != nil {
		return err
	}
	return unix.Close(fd)
}
