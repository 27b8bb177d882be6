package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage2/launch"
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

// bind bind-mounts src on target, recursively if rec, then sets the
// mount attributes attr (unix.MOUNT_ATTR_*) on it, and on every mount
// below it if rec: a bind mount takes no flags of its own on creation.
func bind(src, target string, rec bool, attr uint64) error {
	fl := uintptr(unix.MS_BIND)
	if rec {
		fl |= unix.MS_REC
	}
	if err := mount(src, target, "", fl, ""); err != nil {
		return err
	}
	if attr == 0 {
		return nil
	}
	return setAttr(target, rec, attr)
}

// setAttr sets the mount attributes attr on the mount at target (and, if
// rec, every mount below it) without touching the mounts' other flags.
func setAttr(target string, rec bool, attr uint64) error {
	fl := uint(unix.AT_NO_AUTOMOUNT)
	if rec {
		fl |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(unix.AT_FDCWD, target, fl, &unix.MountAttr{Attr_set: attr}); err != nil {
		return fmt.Errorf("set mount attributes %#x on %s: %w", attr, target, err)
	}
	return nil
}

// roAttr is the attribute that makes a mount read-only when ro.
func roAttr(ro bool) uint64 {
	if ro {
		return unix.MOUNT_ATTR_RDONLY
	}
	return 0
}

// setupStage1FS gives the stage1 rootfs s1 its own /proc, read-only /sys
// and a minimal /dev. The pod's mount namespace is fresh and private, so
// none of this is seen on the host. Unless disablePaths, its /proc is
// restricted as the apps' are: an app root that escapes its chroot lands
// in the stage1 rootfs, and must not find the host's kernel knobs
// (/proc/sys/kernel/core_pattern runs a program on the host) writable
// there.
func setupStage1FS(s1 string, disablePaths bool) error {
	for _, d := range []string{"proc", "sys", "dev", "rkt/status", "rkt/env", "opt/stage2", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(s1, d), 0o755); err != nil {
			return err
		}
	}
	proc := filepath.Join(s1, "proc")
	if err := mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if !disablePaths {
		if err := restrictProc(proc); err != nil {
			return err
		}
	}
	if err := mountSys(filepath.Join(s1, "sys")); err != nil {
		return err
	}
	return setupDev(filepath.Join(s1, "dev"))
}

func mountSys(target string) error {
	return mount("sysfs", target, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
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

// makeConsole gives the pod its /dev/console: the terminal the pod was
// started on, or the host's /dev/null when there is none (the host's own
// console is never handed to a pod).
func makeConsole(dev string) error {
	return bindNode(consoleSource(), filepath.Join(dev, "console"))
}

func consoleSource() string {
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		if p, err := os.Readlink("/proc/self/fd/0"); err == nil && filepath.IsAbs(p) {
			return p
		}
	}
	return "/dev/null"
}

func bindNode(src, target string) error {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return err
	}
	f.Close()
	return bind(src, target, false, 0)
}

// setupAppFS prepares the app's rootfs (host path root): its own /proc,
// /sys and the pod's /dev, its volumes, DNS files and working directory,
// and finally read-only root when the pod manifest asks for it.
func setupAppFS(p *podRun, a *appPlan, root string) error {
	if a.ra.ReadOnlyRootFS {
		// The rootfs must be a mount of its own to be made read-only.
		if err := bind(root, root, true, 0); err != nil {
			return err
		}
	}
	proc, err := mkdirIn(root, "/proc")
	if err != nil {
		return err
	}
	if err := mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if !p.flags.disablePaths {
		if err := restrictProc(proc); err != nil {
			return fmt.Errorf("app %s: %w", a.name, err)
		}
	}
	sys, err := mkdirIn(root, "/sys")
	if err != nil {
		return err
	}
	if err := mountSys(sys); err != nil {
		return err
	}
	dev, err := mkdirIn(root, "/dev")
	if err != nil {
		return err
	}
	if err := bind(filepath.Join(p.s1, "dev"), dev, true, 0); err != nil {
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
	if a.app.WorkingDirectory != "" {
		if _, err := mkdirIn(root, a.app.WorkingDirectory); err != nil {
			return fmt.Errorf("app %s: working directory: %w", a.name, err)
		}
	}
	if a.ra.ReadOnlyRootFS {
		return setAttr(root, false, unix.MOUNT_ATTR_RDONLY)
	}
	return nil
}

// mkdirIn creates p inside root (symlinks resolved inside root) and
// returns its host path.
func mkdirIn(root, p string) (string, error) {
	full, err := launch.ResolveIn(root, p)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(full, 0o755); err != nil {
		return "", err
	}
	return full, nil
}

func mountVolume(p *podRun, root string, m mountPlan) error {
	src, attr := m.source, roAttr(m.readOnly)
	if m.kind == "empty" {
		var err error
		if src, err = p.emptyVolume(m); err != nil {
			return err
		}
	}
	// A volume is a directory on the host's file system, where a device
	// node an app makes (apps keep CAP_MKNOD) would open the host's
	// device: a raw disk, say. rkt's device cgroup stopped such nodes;
	// saturn has none, so volumes are nodev. rkt bound them without
	// nosuid, which stays.
	attr |= unix.MOUNT_ATTR_NODEV
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	target, err := launch.ResolveIn(root, m.target)
	if err != nil {
		return err
	}
	if err := makeTarget(target, st.IsDir()); err != nil {
		return err
	}
	return bind(src, target, m.recursive, attr)
}

// makeTarget creates a mount target of the right type: a directory for a
// directory source (replacing a file there, as the ACE spec says), a file
// for a file source.
func makeTarget(target string, dir bool) error {
	st, err := os.Lstat(target)
	if err == nil && st.IsDir() == dir {
		return nil
	}
	if err == nil {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	}
	if dir {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// setupDNS gives the app /etc/hosts and /etc/resolv.conf as
// --dns-conf-mode says: the host's, stage0's (written into the stage1
// rootfs), or for hosts by default a fallback when the image has none.
func setupDNS(p *podRun, root string) error {
	files := []struct{ name, mode string }{{"hosts", p.flags.hostsMode}, {"resolv.conf", p.flags.resolvMode}}
	for _, fl := range files {
		target, err := launch.ResolveIn(root, "/etc/"+fl.name)
		if err != nil {
			return err
		}
		var src string
		switch fl.mode {
		case "host":
			src = "/etc/" + fl.name
		case "stage0":
			src = filepath.Join(p.s1, "etc", fl.name)
		default:
			if fl.name == "hosts" {
				if err := writeFallbackHosts(target, p.flags.hostname); err != nil {
					return err
				}
			}
			continue
		}
		if err := makeTarget(target, false); err != nil {
			return err
		}
		// The host's own file is bound read-only, as rkt does: an app
		// must not rewrite the host's name resolution. stage0's copy is
		// the pod's to change.
		if err := bind(src, target, false, roAttr(fl.mode == "host")); err != nil {
			return err
		}
	}
	return nil
}

func writeFallbackHosts(target, hostname string) error {
	if _, err := os.Stat(target); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	hosts := "127.0.0.1 localhost localhost.localdomain localhost4 localhost4.localdomain4\n" +
		"::1 localhost localhost.localdomain localhost6 localhost6.localdomain6\n" +
		"127.0.0.1 " + hostname + "\n"
	return os.WriteFile(target, []byte(hosts), 0o644)
}

// Paths of an app's /proc that rkt restricts unless --disable-paths: the
// kernel's knobs become read-only (an app root must not reboot or retune
// the host through /proc/sysrq-trigger or /proc/sys), and files exposing
// host memory or keys read as empty.
var (
	readOnlyProc = []string{"bus", "fs", "irq", "sys", "sysrq-trigger"}
	maskedProc   = []string{"kcore", "keys", "timer_list"}
)

func restrictProc(proc string) error {
	for _, n := range readOnlyProc {
		full := filepath.Join(proc, n)
		if _, err := os.Lstat(full); err != nil {
			continue
		}
		if err := bind(full, full, true, unix.MOUNT_ATTR_RDONLY); err != nil {
			return err
		}
	}
	for _, n := range maskedProc {
		full := filepath.Join(proc, n)
		if _, err := os.Lstat(full); err != nil {
			continue
		}
		if err := bind("/dev/null", full, false, unix.MOUNT_ATTR_RDONLY); err != nil {
			return err
		}
	}
	return nil
}
