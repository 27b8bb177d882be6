package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/copytree"
	"github.com/saturn-pods/saturn/etcfiles"
	"github.com/saturn-pods/saturn/fdmount"
	"github.com/saturn-pods/saturn/inroot"
	"github.com/saturn-pods/saturn/stage1abi"
)

func mount(src, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(src, target, fstype, flags, data); err != nil {
		what := src
		if what == "" {
			what = fstype
		}
		return fmt.Errorf("mount %s on %s: %w", what, target, err)
	}
	return nil
}

// openSource opens a volume's source with O_PATH. A host volume's source
// may not go through a symlink (checkHostSource, in the run entrypoint,
// said so by name): it is opened with no symlink followed, so one a
// writer of a directory on the way swaps in since is refused, not bound.
func openSource(src string, host bool) (*os.File, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC}
	if host {
		how.Resolve = unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, src, &how)
	if err == unix.ELOOP {
		return nil, fmt.Errorf("volume source %s goes through a symlink", src)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: src, Err: err}
	}
	return os.NewFile(uintptr(fd), src), nil
}

// mountProc mounts a proc on target, restricted unless disablePaths.
func mountProc(target *os.File, disablePaths bool) error {
	mfd, err := fdmount.New("proc", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if err := fdmount.Attach(mfd, int(target.Fd()), ""); err != nil {
		return fmt.Errorf("mount proc on %s: %w", target.Name(), err)
	}
	if disablePaths {
		return nil
	}
	// mfd is now the proc's root, mounted: what restrictProc mounts
	// below it is seen there.
	return restrictProc(mfd)
}

// setupStage1FS gives the stage1 rootfs s1 its own /proc, read-only /sys
// and a minimal /dev. The pod's mount namespace is fresh and private, so
// none of this is seen on the host. Unless disablePaths, its /proc is
// restricted as the apps' are: an app root that escapes its chroot lands
// in the stage1 rootfs, and must not find the host's kernel knobs
// (/proc/sys/kernel/core_pattern runs a program on the host) writable
// there.
func setupStage1FS(s1 string, disablePaths bool) error {
	for _, d := range []string{"proc", "sys", "dev", stage1abi.StatusDir, stage1abi.EnvDir, stage1abi.Stage2Dir, "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(s1, d), 0o755); err != nil {
			return err
		}
	}
	root, err := inroot.OpenRoot(s1)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := inDir(root, "/proc", func(d *os.File) error { return mountProc(d, disablePaths) }); err != nil {
		return err
	}
	if err := inDir(root, "/sys", func(d *os.File) error { return mountSys(d, disablePaths) }); err != nil {
		return err
	}
	return setupDev(filepath.Join(s1, "dev"))
}

// mountSys mounts a read-only sysfs on target, its hidden directories
// covered unless disablePaths (see restrictSys).
func mountSys(target *os.File, disablePaths bool) error {
	mfd, err := fdmount.New("sysfs", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, "ro")
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if err := fdmount.Attach(mfd, int(target.Fd()), ""); err != nil {
		return fmt.Errorf("mount sysfs on %s: %w", target.Name(), err)
	}
	if disablePaths {
		return nil
	}
	return restrictSys(mfd)
}

// devNodes are the host's device nodes bound into the pod's /dev.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// setupDev mounts the pod's /dev: a nodev tmpfs, because apps keep
// CAP_MKNOD (appc's default set) and saturn has no device cgroup, so a
// node an app makes there must not open a device of the host. The
// pod's own nodes are therefore bind mounts of the host's: each is a
// mount of its own, with the host /dev's flags, and works on the nodev
// tmpfs (a node made there with mknod would not).
func setupDev(dev string) error {
	if err := mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return err
	}
	for _, n := range devNodes {
		if err := bindNode("/dev/"+n, filepath.Join(dev, n)); err != nil {
			return err
		}
	}
	if err := makeConsole(dev); err != nil {
		return err
	}
	pts := filepath.Join(dev, "pts")
	if err := os.Mkdir(pts, 0o755); err != nil {
		return err
	}
	if err := mount("devpts", pts, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return err
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o755); err != nil {
		return err
	}
	if err := mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,size=65536k"); err != nil {
		return err
	}
	links := map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

// makeConsole gives the pod its /dev/console (see consoleSource).
func makeConsole(dev string) error {
	return bindNode(consoleSource(), filepath.Join(dev, "console"))
}

func bindNode(src, target string) error {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return err
	}
	f.Close()
	return fdmount.Bind(src, target, false, 0)
}

// setupAppFS prepares the app's rootfs (host path rootPath): its own
// /proc, /sys and the pod's /dev, its volumes, DNS files and working
// directory, and finally read-only root when the pod manifest asks for
// it.
func setupAppFS(p *podRun, a *appPlan, rootPath string) error {
	if a.readOnlyRootFS || !fdmount.IsMountRoot(rootPath) {
		// The rootfs must be a mount of its own to be made read-only,
		// and to be pivoted into (see appns.go): stage0's overlay is
		// one, a copy made with --no-overlay is not.
		if err := fdmount.Bind(rootPath, rootPath, true, 0); err != nil {
			return err
		}
	}
	// Opened after that bind, so it is the rootfs's own mount: every
	// lookup and mount below is relative to it.
	root, err := inroot.OpenRoot(rootPath)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := inDir(root, "/proc", func(d *os.File) error { return mountProc(d, p.flags.DisablePaths) }); err != nil {
		return fmt.Errorf("app %s: %w", a.name, err)
	}
	if err := inDir(root, "/sys", func(d *os.File) error { return mountSys(d, p.flags.DisablePaths) }); err != nil {
		return err
	}
	if err := inDir(root, "/sys/fs/cgroup", func(d *os.File) error { return mountCgroupView(a, d) }); err != nil {
		return fmt.Errorf("app %s: %w", a.name, err)
	}
	dev := func(d *os.File) error { return fdmount.BindOn(filepath.Join(p.s1, "dev"), d, true, 0) }
	if err := inDir(root, "/dev", dev); err != nil {
		return err
	}
	for _, m := range a.mounts {
		if err := mountVolume(p, root, m); err != nil {
			return fmt.Errorf("app %s: volume %s: %w", a.name, m.volume, err)
		}
	}
	if err := setupDNS(p, root); err != nil {
		return fmt.Errorf("app %s: %w", a.name, err)
	}
	if err := setupEtc(root); err != nil {
		return fmt.Errorf("app %s: %w", a.name, err)
	}
	if a.workingDirectory != "" {
		// Made if missing. Unlike a mount point, "/" (the appc default)
		// is a working directory like any other.
		d, err := inroot.MkdirAll(root, a.workingDirectory)
		if err != nil {
			return fmt.Errorf("app %s: working directory: %w", a.name, err)
		}
		d.Close()
	}
	if a.readOnlyRootFS {
		if !mountsAt(a.mounts, "/tmp") {
			// Apps need a writable /tmp, as stage1-fly gives every app,
			// unless the image says what goes there (a mount point).
			if err := inDir(root, "/tmp", func(d *os.File) error {
				return fdmount.NewOn(d, "tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, "mode=1777")
			}); err != nil {
				return fmt.Errorf("app %s: %w", a.name, err)
			}
		}
		return fdmount.SetAttr(int(root.Fd()), "", false, unix.MOUNT_ATTR_RDONLY)
	}
	return nil
}

// mountsAt reports whether one of ms is mounted on target.
func mountsAt(ms []mountPlan, target string) bool {
	for _, m := range ms {
		if m.target == target {
			return true
		}
	}
	return false
}

// inDir runs f on the directory p inside root (symlinks resolved inside
// root), made if missing.
func inDir(root *os.File, p string, f func(*os.File) error) error {
	d, err := inroot.MkdirAll(root, p)
	if err != nil {
		return err
	}
	defer d.Close()
	if fdmount.IsRoot(d, root) {
		return fmt.Errorf("%s resolves to the app's root", p)
	}
	return f(d)
}

func mountVolume(p *podRun, root *os.File, m mountPlan) error {
	src, attr := m.source, fdmount.ReadOnly(m.readOnly)
	fresh := false
	if m.kind == "empty" {
		var err error
		if src, fresh, err = p.emptyVolume(m); err != nil {
			return err
		}
	}
	// A volume is a directory on the host's file system, where a device
	// node an app makes (apps keep CAP_MKNOD) would open the host's
	// device: a raw disk, say. rkt's device cgroup stopped such nodes;
	// saturn has none, so volumes are nodev. rkt bound them without
	// nosuid, which stays.
	attr |= unix.MOUNT_ATTR_NODEV
	sf, err := openSource(src, m.kind == "host")
	if err != nil {
		return err
	}
	defer sf.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(sf.Fd()), &st); err != nil {
		return &os.PathError{Op: "stat", Path: src, Err: err}
	}
	dir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	// As rkt and Docker do, a new empty volume mounted over a directory
	// of the image starts out as a copy of it: its files, and its owner
	// and mode.
	fill := fresh && dir && isDirIn(root, m.target)
	target, err := fdmount.Target(root, m.target, dir)
	if err != nil {
		return err
	}
	defer target.Close()
	if fill {
		if err := copytree.Attrs(sf, target); err != nil {
			return fmt.Errorf("fill from the image's %s: %w", m.target, err)
		}
		if err := copytree.Into(sf, target); err != nil {
			return fmt.Errorf("fill from the image's %s: %w", m.target, err)
		}
	}
	return fdmount.BindFileOn(sf, target, m.recursive, attr)
}

// isDirIn reports whether p is a directory in root, as the app sees it.
func isDirIn(root *os.File, p string) bool {
	d, err := inroot.Open(root, p, unix.O_DIRECTORY)
	if err != nil {
		return false
	}
	d.Close()
	return true
}

// setupDNS gives the app /etc/hosts and /etc/resolv.conf as
// --dns-conf-mode says: the host's, stage0's (written into the stage1
// rootfs), or for hosts by default a fallback when the image has none.
func setupDNS(p *podRun, root *os.File) error {
	files := []struct{ name, mode string }{{"hosts", p.flags.DNSConfMode.Hosts}, {"resolv.conf", p.flags.DNSConfMode.Resolv}}
	for _, fl := range files {
		var src string
		switch fl.mode {
		case "host":
			src = "/etc/" + fl.name
		case "stage0":
			src = filepath.Join(p.s1, "etc", fl.name)
		default:
			if fl.name == "hosts" {
				if err := writeFallbackHosts(root, p.flags.Hostname); err != nil {
					return err
				}
			}
			continue
		}
		target, err := fdmount.Target(root, "/etc/"+fl.name, false)
		if err != nil {
			return err
		}
		// The host's own file is bound read-only, as rkt does: an app
		// must not rewrite the host's name resolution. stage0's copy is
		// the pod's to change.
		err = fdmount.BindOn(src, target, false, fdmount.ReadOnly(fl.mode == "host"))
		target.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeFallbackHosts writes /etc/hosts in root unless the image has one.
func writeFallbackHosts(root *os.File, hostname string) error {
	parent, name, err := inroot.Parent(root, "/etc/hosts")
	if err != nil {
		return err
	}
	defer parent.Close()
	// O_EXCL|O_NOFOLLOW: the image's own file, or whatever is swapped in
	// for it, is kept and never followed.
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err == unix.EEXIST || err == unix.EISDIR {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write /etc/hosts: %w", err)
	}
	f := os.NewFile(uintptr(fd), "/etc/hosts")
	_, err = f.Write(etcfiles.FallbackHosts(hostname))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// bindAt binds src (in srcDir) read-only on target (in dir).
func bindAt(srcDir int, src string, dir int, target string, rec bool) error {
	mfd, err := fdmount.Clone(srcDir, src, rec, unix.MOUNT_ATTR_RDONLY)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if err := fdmount.Attach(mfd, dir, target); err != nil {
		return fmt.Errorf("bind %s on proc's %s: %w", src, target, err)
	}
	return nil
}
