package main

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage2/launch"
)

// pid1Caps are the capabilities the pod's PID 1 uses once the pod is set
// up, to start, signal and supervise the processes of the apps:
//
//   - CAP_SYS_ADMIN and CAP_SYS_CHROOT: setns(2) into an app's mount
//     namespace, on the thread that forks each process of the app;
//   - CAP_SETPCAP: dropping capabilities from that thread's bounding set;
//   - CAP_SETUID and CAP_SETGID: the child's switch to the app's user,
//     group and supplementary groups, between fork and exec;
//   - CAP_KILL: signalling apps that run as other users;
//   - CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: looking up an app's
//     command and entering its working directory as root before exec,
//     whoever owns the directories on the way (a root app gets them back
//     from its bounding set at exec).
//
// Everything else it needed only to set the pod up (CAP_NET_ADMIN for the
// loopback, CAP_MKNOD, CAP_CHOWN and CAP_FOWNER for volumes...) or never.
var pid1Caps = []launch.Cap{
	unix.CAP_SYS_ADMIN, unix.CAP_SYS_CHROOT, unix.CAP_SETPCAP,
	unix.CAP_SETUID, unix.CAP_SETGID, unix.CAP_KILL,
	unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH,
}

// dropPID1Privileges narrows what PID 1 holds once the pod is set up:
//
//   - Its effective set becomes pid1Caps.
//   - Its permitted set becomes pid1Caps plus every capability of the
//     apps' bounding sets, not less. A process that execs as root gets
//     its bounding set as its permitted set whatever its parent's, so a
//     root app would lose nothing with less; but the kernel makes a
//     process whose exec gains permitted capabilities non-dumpable, like
//     a setuid program (no core dumps, no ptrace or /proc/<pid> access by
//     its peers), and a root app must not become that. A non-root app's
//     ambient capabilities, which its child raises from the permitted set
//     it inherits, are covered too. With
//     --disable-capabilities-restriction nothing changes.
//   - The bounding set stays as it was: it is what apps are granted from.
//   - PID 1 becomes non-dumpable itself, so that no app reaches /proc/1
//     (its root, fds, environment, memory) without CAP_SYS_PTRACE,
//     whatever else it holds.
//
// Capability sets belong to threads: the sets change on every thread of
// the process at once (AllThreadsSyscall), and threads the runtime starts
// later are cloned from one of them.
func dropPID1Privileges(apps []*appPlan) error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("make PID 1 non-dumpable: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read PID 1's capabilities: %w", err)
	}
	held := data
	data = [2]unix.CapUserData{}
	for _, c := range pid1Caps {
		data[c/32].Effective |= 1 << (uint(c) % 32)
		data[c/32].Permitted |= 1 << (uint(c) % 32)
	}
	for _, a := range apps {
		if a.spec.Bounding == nil {
			// Every capability: keep the permitted set.
			data[0].Permitted, data[1].Permitted = held[0].Permitted, held[1].Permitted
			break
		}
		for _, c := range a.spec.Bounding {
			data[c/32].Permitted |= 1 << (uint(c) % 32)
		}
	}
	for i := range data {
		// Never more than PID 1 holds: capset would refuse it.
		data[i].Effective &= held[i].Permitted
		data[i].Permitted &= held[i].Permitted
	}
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if errno != 0 {
		return fmt.Errorf("drop PID 1's capabilities: %w", errno)
	}
	return nil
}
