package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/fdmount"
	"github.com/saturn-pods/saturn/inroot"
	"github.com/saturn-pods/saturn/mountinfo"
	"github.com/saturn-pods/saturn/terminal"
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

// The pod's /dev/console is the pty the run entrypoint allocated for it
// (SATURN_CONSOLE_FD), never the terminal the pod was started from; with
// none, the host's /dev/null.
func TestPodDevConsoleIsThePodsPty(t *testing.T) {
	caller, callerTTY, err := terminal.Open("/dev/ptmx")
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	defer callerTTY.Close()
	master, console, err := terminal.Open("/dev/ptmx")
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer console.Close()
	// The pty's path in the host's devpts, as PID 1 finds it.
	name, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(console.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(consoleFDEnv, strconv.Itoa(int(console.Fd())))
	dev := podDev(t, callerTTY)
	mounts, err := mountinfo.Under(dev)
	if err != nil {
		t.Fatal(err)
	}
	checkBoundNode(t, filepath.Join(dev, "console"), name, mounts)
	f, err := os.OpenFile(filepath.Join(dev, "console"), os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pod's console: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString("x"); err != nil {
		t.Errorf("write to the pod's console: %v", err)
	}
	b := make([]byte, 1)
	if n, err := master.Read(b); n != 1 || b[0] != 'x' {
		t.Errorf("the console's master read %q, %v; want what the pod wrote", b[:n], err)
	}

	os.Unsetenv(consoleFDEnv)
	dev = podDev(t, callerTTY)
	if mounts, err = mountinfo.Under(dev); err != nil {
		t.Fatal(err)
	}
	checkBoundNode(t, filepath.Join(dev, "console"), "/dev/null", mounts)
}

// detachUnder detaches every mount at or below dir when the test ends.
func detachUnder(t *testing.T, dir string) {
	t.Helper()
	t.Cleanup(func() {
		mps, err := mountinfo.Under(dir)
		if err != nil {
			t.Error(err)
		}
		for _, mp := range mps {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
				t.Errorf("unmount %s: %v", mp, err)
			}
		}
	})
}

// appRoot returns an app rootfs, open as setupAppFS opens it, and a host
// directory outside it that nothing done in the rootfs may touch.
func appRoot(t *testing.T) (string, *os.File, string) {
	t.Helper()
	root, outside := t.TempDir(), t.TempDir()
	detachUnder(t, root)
	detachUnder(t, outside)
	rf, err := inroot.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rf.Close() })
	return root, rf, outside
}

// untouched checks that nothing was made or mounted in outside.
func untouched(t *testing.T, outside string) {
	t.Helper()
	if ents, err := os.ReadDir(outside); err != nil || len(ents) != 0 {
		t.Errorf("%s, outside the rootfs, holds %v (%v)", outside, ents, err)
	}
	if mps, err := mountinfo.Under(outside); err != nil || len(mps) != 0 {
		t.Errorf("mounts %q under %s, outside the rootfs (%v)", mps, outside, err)
	}
}

// volumeDir is a host volume holding a file named marker.
func volumeDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "marker"), []byte("vol"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// volumeFile is a host file volume holding "file".
func volumeFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, []byte("file"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// mountAt mounts the host volume src at target in the rootfs.
func mountAt(rf *os.File, src, target string, ro bool) error {
	m := mountPlan{volume: "v", target: target, kind: "host", source: src, readOnly: ro, recursive: true}
	return mountVolume(&podRun{}, rf, m)
}

// checkMounted checks that path is a mount point showing the volume src
// (a directory's marker, or a file's content).
func checkMounted(t *testing.T, path, src string) {
	t.Helper()
	mps, err := mountinfo.Under(path)
	if err != nil || !slices.Contains(mps, path) {
		t.Errorf("%s is not a mount point (%v)", path, err)
	}
	want, show := "file", path
	if st, err := os.Stat(src); err == nil && st.IsDir() {
		want, show = "vol", filepath.Join(path, "marker")
	}
	if b, err := os.ReadFile(show); err != nil || string(b) != want {
		t.Errorf("%s shows %q (%v), want the volume's %q", show, b, err, want)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// Volumes land where they did with path-based mounts: on an existing
// directory, on a missing path, a file on a file, a directory volume
// replacing a file (ACE spec) and a file volume replacing a directory;
// read-only when asked, nodev always.
func TestMountVolumeTargets(t *testing.T) {
	root, rf, outside := appRoot(t)
	dir, file := volumeDir(t), volumeFile(t)
	mkdir(t, filepath.Join(root, "data"))
	mkdir(t, filepath.Join(root, "full/sub"))
	for _, f := range []string{"replaced", "full/sub/f", "etc/hosts"} {
		mkdir(t, filepath.Dir(filepath.Join(root, f)))
		if err := os.WriteFile(filepath.Join(root, f), []byte("image"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		src, target string
		ro          bool
	}{
		{dir, "/data", false},
		{dir, "/a/b/c", true},
		{file, "/etc/conf", false},
		{file, "/etc/hosts", true},
		{dir, "/replaced", false},
		{file, "/full", false},
	} {
		if err := mountAt(rf, tc.src, tc.target, tc.ro); err != nil {
			t.Errorf("mount %s on %s: %v", tc.src, tc.target, err)
			continue
		}
		path := filepath.Join(root, tc.target)
		checkMounted(t, path, tc.src)
		var fs unix.Statfs_t
		if err := unix.Statfs(path, &fs); err != nil {
			t.Fatal(err)
		}
		if fs.Flags&unix.ST_NODEV == 0 || (fs.Flags&unix.ST_RDONLY != 0) != tc.ro {
			t.Errorf("%s mounted with flags %#x, want nodev and read-only %v", tc.target, fs.Flags, tc.ro)
		}
	}
	untouched(t, outside)
}

// Symlinks in the rootfs, absolute or climbing with "..", and in a host
// volume mounted into it (nested volumes), are followed inside the
// rootfs: nothing is made or mounted in the host directory they name.
func TestMountVolumeStaysInRoot(t *testing.T) {
	root, rf, outside := appRoot(t)
	dir, file := volumeDir(t), volumeFile(t)
	host := volumeDir(t)
	symlink(t, outside, filepath.Join(host, "sub"))
	symlink(t, outside, filepath.Join(root, "etc"))
	symlink(t, "../../../../../../../.."+outside, filepath.Join(root, "up"))
	symlink(t, outside+"/dangling", filepath.Join(root, "link"))
	symlink(t, "..", filepath.Join(root, "dotdot"))
	if err := mountAt(rf, host, "/vol", false); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(root, outside)
	for _, tc := range []struct{ src, target, want string }{
		{dir, "/etc/app", filepath.Join(in, "app")},
		{dir, "/up/x", filepath.Join(in, "x")},
		{file, "/link", filepath.Join(in, "dangling")},
		{dir, "/vol/sub/inner", filepath.Join(in, "inner")},
	} {
		if err := mountAt(rf, tc.src, tc.target, false); err != nil {
			t.Errorf("mount %s on %s: %v", tc.src, tc.target, err)
			continue
		}
		checkMounted(t, tc.want, tc.src)
	}
	// A file volume on a path that is the rootfs itself must not
	// replace (empty) it.
	if err := mountAt(rf, file, "/dotdot", false); err == nil {
		t.Errorf("a file volume replaced the rootfs, reached through ..")
	}
	if _, err := os.Stat(filepath.Join(root, "vol")); err != nil {
		t.Errorf("the rootfs lost its content: %v", err)
	}
	untouched(t, outside)
}

// A writer of a host volume swaps what the mount setup resolved for a
// symlink to a host directory before the mount is made: the mount still
// lands inside the rootfs, or is refused, and nothing is made, removed
// or mounted through the symlink.
func TestMountTargetSwappedForSymlink(t *testing.T) {
	root, rf, outside := appRoot(t)
	dir := volumeDir(t)
	host := t.TempDir()
	mkdir(t, filepath.Join(host, "sub"))
	if err := mountAt(rf, host, "/vol", false); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(root, "vol")
	swap := func(name string) {
		t.Helper()
		old := filepath.Join(vol, name)
		if _, err := os.Lstat(old); err == nil {
			if err := os.Rename(old, old+".old"); err != nil {
				t.Fatal(err)
			}
		}
		symlink(t, outside, old)
	}
	target := func(p, swapped string, dir bool) (*os.File, error) {
		t.Helper()
		parent, name, err := inroot.Parent(rf, p)
		if err != nil {
			t.Fatal(err)
		}
		defer parent.Close()
		swap(swapped)
		return fdmount.TargetAt(parent, name, dir)
	}
	// The directory holding the mount point is swapped: the mount is
	// made in the directory resolved, now sub.old.
	tf, err := target("/vol/sub/x", "sub", true)
	if err != nil {
		t.Fatal(err)
	}
	err = fdmount.BindOn(dir, tf, false, 0)
	tf.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkMounted(t, filepath.Join(vol, "sub.old/x"), dir)
	// The mount point itself is swapped: a directory target removes the
	// symlink (not what it names) and makes the directory; a file target
	// is refused.
	tf, err = target("/vol/y", "y", true)
	if err != nil {
		t.Fatalf("directory target swapped for a symlink: %v", err)
	}
	want, err := os.Lstat(filepath.Join(host, "y"))
	if st, err2 := tf.Stat(); err != nil || err2 != nil || !st.IsDir() || !os.SameFile(st, want) {
		t.Errorf("directory target %s, want the directory %s/y (%v, %v)", fdHost(t, tf), host, err, err2)
	}
	tf.Close()
	if tf, err = target("/vol/f", "f", false); err == nil {
		tf.Close()
		t.Errorf("a file target swapped for a symlink was opened")
	}
	untouched(t, outside)
}

// fdHost is the host path of the object f holds.
func fdHost(t *testing.T, f *os.File) string {
	t.Helper()
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The fallback /etc/hosts is written inside the rootfs through a
// symlink, and an image's own is kept.
func TestFallbackHostsStaysInRoot(t *testing.T) {
	root, rf, outside := appRoot(t)
	mkdir(t, filepath.Join(root, "etc"))
	symlink(t, outside+"/hosts", filepath.Join(root, "etc/hosts"))
	if err := writeFallbackHosts(rf, "pod"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, outside, "hosts"))
	if err != nil || !strings.Contains(string(b), "localhost4.localdomain4 pod\n") {
		t.Errorf("fallback hosts: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(root, outside, "hosts"), []byte("image"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFallbackHosts(rf, "pod"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, outside, "hosts")); string(b) != "image" {
		t.Errorf("the image's /etc/hosts was replaced by %q", b)
	}
	untouched(t, outside)
}

// The app's /proc and /sys, mounted on descriptors: /sys read-only,
// /proc's kernel knobs read-only and its secrets masked unless
// disablePaths.
func TestMountProcAndSysOnFD(t *testing.T) {
	for _, disable := range []bool{false, true} {
		root, rf, _ := appRoot(t)
		if err := inDir(rf, "/proc", func(d *os.File) error { return mountProc(d, disable) }); err != nil {
			t.Fatal(err)
		}
		if err := inDir(rf, "/sys", func(d *os.File) error { return mountSys(d, disable) }); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			path string
			ro   bool
		}{{"proc", false}, {"proc/sys", !disable}, {"sys", true}} {
			var fs unix.Statfs_t
			if err := unix.Statfs(filepath.Join(root, tc.path), &fs); err != nil {
				t.Fatal(err)
			}
			if (fs.Flags&unix.ST_RDONLY != 0) != tc.ro || fs.Flags&unix.ST_NOSUID == 0 {
				t.Errorf("disablePaths %v: /%s has flags %#x, want nosuid and read-only %v", disable, tc.path, fs.Flags, tc.ro)
			}
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(root, "proc/kcore"), &st); err == nil && (st.Mode&unix.S_IFMT == unix.S_IFCHR) == disable {
			t.Errorf("disablePaths %v: /proc/kcore has mode %o", disable, st.Mode)
		}
		// The host's firmware and file systems are out of sight; the
		// cgroup directory stays, for the app's cgroup view.
		for dir, keep := range map[string][]string{"sys/firmware": nil, "sys/fs": {"cgroup"}} {
			ents, err := os.ReadDir(filepath.Join(root, dir))
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			hidden := err == nil && slices.Equal(names, keep)
			if hidden == disable {
				t.Errorf("disablePaths %v: /%s holds %q (%v)", disable, dir, names, err)
			}
		}
	}
}

// checkHostSource refuses a host volume source that goes through a
// symlink, by name, before PID 1 mounts it: a writer of a directory on the
// way may swap one in since, and the mount must refuse it, not bind
// where it leads.
func TestMountVolumeSourceSwappedForSymlink(t *testing.T) {
	root, rf, _ := appRoot(t)
	src, elsewhere := volumeDir(t), volumeDir(t)
	if err := checkHostSource(src); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, src+".moved"); err != nil {
		t.Fatal(err)
	}
	symlink(t, elsewhere, src)
	err := mountAt(rf, src, "/data", false)
	if err == nil || !strings.Contains(err.Error(), "goes through a symlink") {
		t.Errorf("mount of a source swapped for a symlink: %v, want a refusal", err)
	}
	if mps, _ := mountinfo.Under(root); len(mps) != 0 {
		t.Errorf("mounted %q", mps)
	}
}

// An image symlink can lead a mount point back to the app's root: a
// volume there would cover the whole rootfs, and what is set up later
// from the root's descriptor would land beneath it. Refused, as target
// "/" is.
func TestMountPointResolvingToRootRefused(t *testing.T) {
	root, rf, _ := appRoot(t)
	dir := volumeDir(t)
	symlink(t, "/", filepath.Join(root, "data"))
	symlink(t, "..", filepath.Join(root, "up"))
	for _, target := range []string{"/data", "/up", "/data/up/"} {
		if err := mountAt(rf, dir, target, false); err == nil || !strings.Contains(err.Error(), "resolves to the app's root") {
			t.Errorf("volume on %s: %v, want a refusal", target, err)
		}
	}
	symlink(t, "/", filepath.Join(root, "proc"))
	err := inDir(rf, "/proc", func(*os.File) error {
		t.Error("proc would be mounted on the app's root")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "resolves to the app's root") {
		t.Errorf("/proc through a symlink to /: %v, want a refusal", err)
	}
	if mps, _ := mountinfo.Under(root); len(mps) != 0 {
		t.Errorf("mounted %q", mps)
	}
}
