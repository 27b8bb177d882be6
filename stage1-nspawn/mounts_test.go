package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/mountinfo"
)

// devTmpfs mounts a tmpfs like the pod's /dev on a temporary directory
// and removes it, and anything mounted below it, when the test ends.
func devTmpfs(t *testing.T) string {
	t.Helper()
	dev := t.TempDir()
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID, "mode=755"); err != nil {
		t.Fatalf("mount tmpfs (the test needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dev, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dev, err)
		}
	})
	return dev
}

// withoutTerminal runs f with /dev/null as fd 0, as when the pod is not
// started from a terminal.
func withoutTerminal(t *testing.T, f func()) {
	t.Helper()
	saved, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(saved)
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if err := unix.Dup2(int(null.Fd()), 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Dup2(saved, 0)
	f()
}

// checkNode checks that path is the character device n, crw-rw-rw-.
func checkNode(t *testing.T, path string, n devNode) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Mode&0o7777 != 0o666 {
		t.Errorf("%s: mode %o, want a character device with mode 666", path, st.Mode)
	}
	if unix.Major(st.Rdev) != n.major || unix.Minor(st.Rdev) != n.minor {
		t.Errorf("%s: device %d:%d, want %d:%d", path, unix.Major(st.Rdev), unix.Minor(st.Rdev), n.major, n.minor)
	}
}

func TestDevNodesMknod(t *testing.T) {
	dev := devTmpfs(t)
	// A strict umask must not make the nodes unusable for other users.
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	for _, n := range devNodes {
		if err := makeDevNode(dev, n, "/dev/"+n.name); err != nil {
			t.Fatal(err)
		}
		checkNode(t, filepath.Join(dev, n.name), n)
	}
	withoutTerminal(t, func() {
		if err := makeConsole(dev); err != nil {
			t.Fatal(err)
		}
	})
	checkNode(t, filepath.Join(dev, "console"), nullConsole)
	// The numbers are those of the host's nodes.
	for _, n := range devNodes {
		var host, pod unix.Stat_t
		if err := unix.Stat("/dev/"+n.name, &host); err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(filepath.Join(dev, n.name), &pod); err != nil {
			t.Fatal(err)
		}
		if host.Rdev != pod.Rdev {
			t.Errorf("%s: device %#x, the host's is %#x", n.name, pod.Rdev, host.Rdev)
		}
	}
	mounts, err := mountinfo.Under(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 {
		t.Errorf("mounts under the pod's /dev %q, want only its tmpfs", mounts)
	}
	// The nodes work.
	if err := os.WriteFile(filepath.Join(dev, "null"), []byte("x"), 0); err != nil {
		t.Errorf("write to the pod's null: %v", err)
	}
	b := make([]byte, 4)
	f, err := os.Open(filepath.Join(dev, "zero"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Read(b); err != nil || !slices.Equal(b, []byte{0, 0, 0, 0}) {
		t.Errorf("read the pod's zero: %v %v", b, err)
	}
}

// Without CAP_MKNOD (as in a user namespace) the host's nodes are bound
// instead.
func TestDevNodesBindFallback(t *testing.T) {
	dev := devTmpfs(t)
	var err error
	withoutTerminal(t, func() {
		done := make(chan error, 1)
		go func() {
			// Capabilities belong to the thread: this one drops CAP_MKNOD
			// and is never unlocked, so it ends with the goroutine and no
			// other code runs without the capability.
			runtime.LockOSThread()
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var data [2]unix.CapUserData
			if err := unix.Capget(&hdr, &data[0]); err != nil {
				done <- err
				return
			}
			data[0].Effective &^= 1 << unix.CAP_MKNOD
			if err := unix.Capset(&hdr, &data[0]); err != nil {
				done <- err
				return
			}
			if err := unix.Mknod(filepath.Join(dev, "probe"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != unix.EPERM {
				done <- fmt.Errorf("mknod without CAP_MKNOD: %v, want EPERM", err)
				return
			}
			for _, n := range devNodes {
				if err := makeDevNode(dev, n, "/dev/"+n.name); err != nil {
					done <- err
					return
				}
			}
			done <- makeConsole(dev)
		}()
		err = <-done
	})
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := mountinfo.Under(dev)
	if err != nil {
		t.Fatal(err)
	}
	// The console without a terminal is the host's null, never its
	// console.
	for _, n := range append(slices.Clone(devNodes), nullConsole) {
		p := filepath.Join(dev, n.name)
		checkNode(t, p, n)
		if !slices.Contains(mounts, p) {
			t.Errorf("%s is not a bind mount of the host's node; mounts %q", p, mounts)
		}
	}
}
