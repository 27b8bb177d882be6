package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/mountinfo"
)

// withStdin runs f with in as fd 0, as when the pod is started with it.
func withStdin(t *testing.T, in *os.File, f func()) {
	t.Helper()
	saved, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(saved)
	if err := unix.Dup2(int(in.Fd()), 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Dup2(saved, 0)
	f()
}

// withoutTerminal runs f with /dev/null as fd 0, as when the pod is not
// started from a terminal.
func withoutTerminal(t *testing.T, f func()) {
	t.Helper()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	withStdin(t, null, f)
}

// checkBoundNode checks that path is the host's node host bound there:
// the same device and mode, and a mount of its own.
func checkBoundNode(t *testing.T, path, host string, mounts []string) {
	t.Helper()
	var want, got unix.Stat_t
	if err := unix.Stat(host, &want); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(path, &got); err != nil {
		t.Fatal(err)
	}
	if got.Mode&unix.S_IFMT != unix.S_IFCHR || got.Rdev != want.Rdev || got.Mode != want.Mode {
		t.Errorf("%s: mode %o device %#x, want the host's %s: mode %o device %#x", path, got.Mode, got.Rdev, host, want.Mode, want.Rdev)
	}
	if !slices.Contains(mounts, path) {
		t.Errorf("%s is not a bind mount of the host's node; mounts %q", path, mounts)
	}
}

// podDev mounts the pod's /dev (setupDev) on a temporary directory,
// with fd 0 what in says (nil: not a terminal), and detaches it, with
// everything mounted below, when the test ends.
func podDev(t *testing.T, in *os.File) string {
	t.Helper()
	dev := t.TempDir()
	var err error
	run := func() { err = setupDev(dev) }
	if in == nil {
		withoutTerminal(t, run)
	} else {
		withStdin(t, in, run)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dev, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
			t.Errorf("unmount %s: %v", dev, err)
		}
	})
	if err != nil {
		t.Fatalf("setupDev (the test needs root): %v", err)
	}
	return dev
}

// mustNotOpen checks that the device node at path, which a test made
// with /dev/null's numbers (so a failing test touches no disk), cannot
// be opened.
func mustNotOpen(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
		t.Errorf("a device node made in %s opens", filepath.Dir(path))
	} else if err != unix.EACCES {
		t.Errorf("open %s: %v, want EACCES", path, err)
	}
}

// The pod's /dev is a nodev tmpfs, so a node an app makes there does not
// open, while the pod's own nodes, bound from the host, work.
func TestPodDevNodes(t *testing.T) {
	// A strict umask must not make the nodes unusable for other users.
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	dev := podDev(t, nil)
	mounts, err := mountinfo.Under(dev)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range devNodes {
		checkBoundNode(t, filepath.Join(dev, n), "/dev/"+n, mounts)
	}
	// The console without a terminal is the host's null, never its
	// console.
	checkBoundNode(t, filepath.Join(dev, "console"), "/dev/null", mounts)
	var fs unix.Statfs_t
	if err := unix.Statfs(dev, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Flags&unix.ST_NODEV == 0 {
		t.Errorf("the pod's /dev is mounted with flags %#x, without nodev", fs.Flags)
	}
	for _, d := range []string{"", "shm"} {
		node := filepath.Join(dev, d, "made")
		if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		mustNotOpen(t, node)
	}
	// The bound nodes work.
	if err := os.WriteFile(filepath.Join(dev, "null"), []byte("x"), 0); err != nil {
		t.Errorf("write to the pod's null: %v", err)
	}
	for _, n := range []string{"zero", "urandom"} {
		f, err := os.Open(filepath.Join(dev, n))
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4)
		if _, err := f.Read(b); err != nil {
			t.Errorf("read the pod's %s: %v", n, err)
		}
		f.Close()
	}
}

// With a terminal, the pod's /dev/console is that terminal.
func TestPodDevConsoleIsTheTerminal(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	term := fmt.Sprintf("/dev/pts/%d", n)
	tty, err := os.OpenFile(term, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	dev := podDev(t, tty)
	mounts, err := mountinfo.Under(dev)
	if err != nil {
		t.Fatal(err)
	}
	checkBoundNode(t, filepath.Join(dev, "console"), term, mounts)
	f, err := os.OpenFile(filepath.Join(dev, "console"), os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pod's console: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString("x"); err != nil {
		t.Errorf("write to the pod's console: %v", err)
	}
}
