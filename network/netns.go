package network

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// CreateNetNS makes a new network namespace, with its loopback up, and
// pins it on path, a file that must not exist yet.
//
// The namespace is made by a goroutine locked to its OS thread and never
// unlocked: the thread enters the namespace, so no other goroutine may
// ever run on it, and the Go runtime ends the thread when the goroutine
// returns. Every other thread of the process stays in the host's
// namespace, where the CNI plugins must be started.
func CreateNetNS(path string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	unix.Close(fd)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("pin network namespace on %s: %w", path, err)
			return
		}
		errc <- LoopbackUp()
	}()
	if err := <-errc; err != nil {
		RemoveNetNS(path)
		return err
	}
	return nil
}

// IsNetNS reports whether path is a pinned network namespace (an nsfs
// mount), not the empty file that stays behind after a reboot.
func IsNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// RemoveNetNS unpins the namespace on path and removes the file; the
// namespace goes away with the last process in it. A missing file is no
// error.
func RemoveNetNS(path string) error {
	for IsNetNS(path) {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
			return fmt.Errorf("unpin network namespace %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("network namespace: %w", err)
	}
	return nil
}

// NetNSSwitch moves the calling thread into a pinned network namespace
// and back. The caller must hold its thread locked (runtime.LockOSThread)
// for as long as the switch exists, and must not let the thread run
// anything but the work meant for the namespace in between: the Go
// runtime never clones new threads from a locked one, so no other
// goroutine ends up in the pod's namespace.
type NetNSSwitch struct {
	host, pod int
}

// OpenNetNSSwitch opens the calling thread's network namespace and the
// one pinned on path.
func OpenNetNSSwitch(path string) (*NetNSSwitch, error) {
	host, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("host network namespace: %w", err)
	}
	pod, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(host)
		return nil, fmt.Errorf("pod network namespace: %w", err)
	}
	return &NetNSSwitch{host: host, pod: pod}, nil
}

// Enter moves the calling thread into the pod's namespace.
func (s *NetNSSwitch) Enter() error {
	if err := unix.Setns(s.pod, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter pod network namespace: %w", err)
	}
	return nil
}

// Leave moves the calling thread back into the host's namespace.
func (s *NetNSSwitch) Leave() error {
	if err := unix.Setns(s.host, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("leave pod network namespace: %w", err)
	}
	return nil
}

// Close releases the namespaces' descriptors.
func (s *NetNSSwitch) Close() {
	unix.Close(s.host)
	unix.Close(s.pod)
}

// LoopbackUp brings up lo in the calling thread's network namespace.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}
