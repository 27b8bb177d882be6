// Package fdmount makes mounts on file descriptors rather than paths
// (open_tree, move_mount, fsopen, mount_setattr): a path into an app's
// rootfs may cross a host volume whose other writers could swap a
// directory on it for a symlink between a check and the mount(2) that
// walks it again, while the kernel mounts a detached mount exactly on
// the object a descriptor holds. Mounts are made with their attributes
// already set, so none is ever visible without them.
//
// Bind, on paths, is for what only the caller's own mount namespace
// holds (a stage1's rootfs, before any app ran).
package fdmount

import (
	"cmp"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReadOnly is the attribute that makes a mount read-only when ro.
func ReadOnly(ro bool) uint64 {
	if ro {
		return unix.MOUNT_ATTR_RDONLY
	}
	return 0
}

// Bind bind-mounts the path src on the path target, recursively if rec,
// then sets the mount attributes attr (unix.MOUNT_ATTR_*) on it, and on
// every mount below it if rec: a bind mount takes no flags of its own
// on creation.
func Bind(src, target string, rec bool, attr uint64) error {
	fl := uintptr(unix.MS_BIND)
	if rec {
		fl |= unix.MS_REC
	}
	if err := unix.Mount(src, target, "", fl, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", src, target, err)
	}
	if attr == 0 {
		return nil
	}
	return SetAttr(unix.AT_FDCWD, target, rec, attr)
}

// SetAttr sets the mount attributes attr on the mount at name in dir
// (name "": dir itself) and, if rec, every mount below it, without
// touching the mounts' other flags.
func SetAttr(dir int, name string, rec bool, attr uint64) error {
	fl := uint(unix.AT_NO_AUTOMOUNT)
	if name == "" {
		fl |= unix.AT_EMPTY_PATH
	}
	if rec {
		fl |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(dir, name, fl, &unix.MountAttr{Attr_set: attr}); err != nil {
		return fmt.Errorf("set mount attributes %#x on %s: %w", attr, cmp.Or(name, "fd "+strconv.Itoa(dir)), err)
	}
	return nil
}

// Clone returns a detached copy of the mount tree at name in dir (name
// "": dir itself; only its top mount unless rec), with attr already set
// on it.
func Clone(dir int, name string, rec bool, attr uint64) (int, error) {
	fl := uint(unix.OPEN_TREE_CLONE | unix.O_CLOEXEC)
	if rec {
		fl |= unix.AT_RECURSIVE
	}
	if name == "" {
		fl |= unix.AT_EMPTY_PATH
	}
	mfd, err := unix.OpenTree(dir, name, fl)
	if err != nil {
		return -1, fmt.Errorf("bind %s: %w", name, err)
	}
	if attr == 0 {
		return mfd, nil
	}
	if err := SetAttr(mfd, "", rec, attr); err != nil {
		unix.Close(mfd)
		return -1, err
	}
	return mfd, nil
}

// Attach mounts the detached mount mfd on name in dir, or on dir itself
// when name is "".
func Attach(mfd, dir int, name string) error {
	fl := unix.MOVE_MOUNT_F_EMPTY_PATH
	if name == "" {
		fl |= unix.MOVE_MOUNT_T_EMPTY_PATH
	}
	if err := unix.MoveMount(mfd, "", dir, name, fl); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// BindOn bind-mounts the host path src on target, recursively if rec,
// with the mount attributes attr.
func BindOn(src string, target *os.File, rec bool, attr uint64) error {
	mfd, err := Clone(unix.AT_FDCWD, src, rec, attr)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if err := Attach(mfd, int(target.Fd()), ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, target.Name(), err)
	}
	return nil
}

// BindFileOn is BindOn of the object src holds open.
func BindFileOn(src, target *os.File, rec bool, attr uint64) error {
	mfd, err := Clone(int(src.Fd()), "", rec, attr)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if err := Attach(mfd, int(target.Fd()), ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src.Name(), target.Name(), err)
	}
	return nil
}

// New returns a detached mount of a new fstype file system with the
// mount attributes attr and the options opts ("key=value", or a flag
// name such as "ro", which also makes the file system read-only as
// MS_RDONLY does for mount(2)).
func New(fstype string, attr uint64, opts ...string) (int, error) {
	fs, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("mount %s: %w", fstype, err)
	}
	defer unix.Close(fs)
	for _, o := range opts {
		if k, v, ok := strings.Cut(o, "="); ok {
			err = unix.FsconfigSetString(fs, k, v)
		} else {
			err = unix.FsconfigSetFlag(fs, o)
		}
		if err != nil {
			return -1, fmt.Errorf("mount %s: option %s: %w", fstype, o, err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("mount %s: %w", fstype, err)
	}
	mfd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, int(attr))
	if err != nil {
		return -1, fmt.Errorf("mount %s: %w", fstype, err)
	}
	return mfd, nil
}

// NewOn mounts a new fstype file system (see New) on target.
func NewOn(target *os.File, fstype string, attr uint64, opts ...string) error {
	mfd, err := New(fstype, attr, opts...)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if err := Attach(mfd, int(target.Fd()), ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, target.Name(), err)
	}
	return nil
}

// IsMountRoot reports whether path is the root of a mount.
func IsMountRoot(path string) bool {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, 0, &stx)
	return err == nil && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}

// IsRoot reports whether f is the directory root holds. A mount there
// would cover the whole rootfs, and whatever is set up after it, from
// root's descriptor, would go beneath it, out of the app's sight.
func IsRoot(f, root *os.File) bool {
	var a, b unix.Stat_t
	return unix.Fstat(int(f.Fd()), &a) == nil && unix.Fstat(int(root.Fd()), &b) == nil &&
		a.Dev == b.Dev && a.Ino == b.Ino
}
