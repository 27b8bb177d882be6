package main

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/fdmount"
)

// The paths of /proc and /sys restricted unless --disable-paths
// (--insecure-options=paths), as rkt's stage1 restricted them: the
// read-only and inaccessible paths of its apps' units (its
// protectKernelTunables lists) and systemd's ProtectKernelTunables=,
// which rkt set. /sys is read-only as a whole already, so only its
// hidden directories are listed. Entries a kernel lacks are skipped.
var (
	// readOnlyProc are the kernel's knobs: an app root must not reboot,
	// crash or retune the host through /proc/sysrq-trigger or /proc/sys
	// (kernel/core_pattern runs a program as root on the host).
	readOnlyProc = []string{"acpi", "apm", "asound", "bus", "fs", "irq", "latency_stats", "sys", "sysrq-trigger", "timer_stats"}
	// maskedProc expose the host's memory, kernel addresses, keys and
	// timers: they read as /dev/null.
	maskedProc = []string{"config.gz", "kallsyms", "kcore", "keys", "kmem", "mem", "sched_debug", "timer_list"}
	// hiddenSys are directories of the host's firmware, file systems,
	// hypervisor, modules and power management: each is covered by an
	// empty read-only tmpfs. /sys/fs keeps an empty cgroup directory,
	// where the app's own cgroups are mounted (mountCgroupView).
	hiddenSys = []string{"firmware", "fs", "hypervisor", "module", "power"}
)

// restrictProc restricts the proc mounted at the descriptor proc. Its
// entries are the kernel's, so they are looked up by name in it.
func restrictProc(proc int) error {
	for _, n := range readOnlyProc {
		if !existsAt(proc, n) {
			continue
		}
		if err := bindAt(proc, n, proc, n, true); err != nil {
			return err
		}
	}
	for _, n := range maskedProc {
		if !existsAt(proc, n) {
			continue
		}
		if err := bindAt(unix.AT_FDCWD, "/dev/null", proc, n, false); err != nil {
			return err
		}
	}
	return nil
}

// restrictSys covers the hidden directories of the sysfs mounted at the
// descriptor sys.
func restrictSys(sys int) error {
	for _, n := range hiddenSys {
		if !existsAt(sys, n) {
			continue
		}
		var keep []string
		if n == "fs" {
			keep = []string{"cgroup"}
		}
		if err := coverDir(sys, n, keep); err != nil {
			return err
		}
	}
	return nil
}

// coverDir mounts an empty read-only tmpfs, holding only the empty
// directories keep, on the directory name in dir.
func coverDir(dir int, name string, keep []string) error {
	tfd, err := fdmount.New("tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := chmodMountRoot(tfd, 0o555); err != nil {
		return err
	}
	for _, k := range keep {
		if err := unix.Mkdirat(tfd, k, 0o555); err != nil {
			return fmt.Errorf("cover %s: %w", name, err)
		}
	}
	if err := fdmount.SetAttr(tfd, "", false, unix.MOUNT_ATTR_RDONLY); err != nil {
		return err
	}
	if err := fdmount.Attach(tfd, dir, name); err != nil {
		return fmt.Errorf("cover %s: %w", name, err)
	}
	return nil
}

func existsAt(dir int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}
