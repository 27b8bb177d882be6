package launch

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// NewMountNS makes the mount namespace an app's processes run in and
// returns an fd that holds it (for Spec.MountNS; the caller closes it). It
// is a copy of the caller's mount namespace with root, a mount point
// there, pivoted to as its root and everything else detached: nothing
// but the app's rootfs and the mounts below it is left in it, so no
// chroot escape (chroot into a subdirectory, climb out of it with
// "..", chroot ".") leads anywhere but to the app's own root, and what the
// app mounts stays in its namespace.
//
// The namespace is made on a goroutine locked to its thread and never
// unlocked. unshare(CLONE_NEWNS) gives that one thread a new mount
// namespace and a filesystem context of its own (it implies CLONE_FS),
// leaving the caller's other threads as they were; pivot_root then
// changes the root of that thread only (the kernel moves the root and
// working directory of every process whose root was the old one, and
// this thread is the only one in the namespace). When the goroutine
// ends, the runtime ends its thread, and the fd is the namespace's only
// reference.
//
// The caller's mount namespace must be private (mounts there shared
// with another namespace would be shared with the copy too); the copy
// is made private again anyway, since pivot_root refuses a shared root
// and nothing the app mounts may propagate back.
func NewMountNS(root string) (int, error) {
	return onThrowawayThread(func() (int, error) { return pivotNewNS(root) })
}

// pivotNewNS runs on a locked thread it spoils (see NewMountNS).
func pivotNewNS(root string) (int, error) {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return -1, fmt.Errorf("new mount namespace for %s: %w", root, err)
	}
	// Opened before the pivot, through the caller's /proc: the app's
	// rootfs need not have one.
	fd, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open the new mount namespace: %w", err)
	}
	if err := pivotInto(root); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// pivotInto makes root the root of the calling thread's mount namespace
// and detaches the old root with every mount below it.
func pivotInto(root string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make the mount namespace of %s private: %w", root, err)
	}
	if err := unix.Chdir(root); err != nil {
		return err
	}
	// pivot_root(".", "."): the old root is stacked on top of the new
	// one, at ".", and unmounting "." detaches it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the old root from %s: %w", root, err)
	}
	return unix.Chdir("/")
}
