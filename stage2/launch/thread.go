package launch

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Much of what a process of an app starts with belongs to a thread, not
// to a process: its mount namespace and filesystem context (root and
// working directory), its credentials (capability sets, keyrings), its
// no_new_privs bit and its seccomp filter. A child forked from a thread
// gets that thread's, and execve keeps the calling thread's. So both ways
// of starting a process apply them to one thread only:
//
//   - Start, in a multithreaded Go process (the pod's PID 1), applies
//     them to a goroutine locked to its thread and never unlocked, forks
//     the process from that thread, and lets the goroutine end: the Go
//     runtime then ends the thread instead of running other goroutines on
//     it. While a thread is locked, the runtime starts any new thread it
//     needs from its template thread, never as a clone of the spoiled one.
//   - Exec, in the stage2 helper or stage1-fly, applies them to its own
//     locked thread and then execs.
//
// prepareThread is the one place these settings are made, in this order:
//
//  1. the mount namespace (joinMountNS): first, because it also replaces
//     the thread's root and working directory, which every later path
//     lookup uses;
//  2. a fresh session keyring (joinSessionKeyring), while the thread is
//     still the caller's root with all its capabilities;
//  3. the capability bounding set (needs CAP_SETPCAP, which the bounding
//     set itself does not take from the thread's effective set);
//  4. no_new_privs.
//
// A filter that limits system calls (seccomp) comes last, after
// everything above has been called; a cgroup the process is placed in
// goes with the mount namespace, before anything the process could be
// charged for.
func prepareThread(s *Spec, last Cap) error {
	if s.MountNS > 0 {
		if err := joinMountNS(s.MountNS); err != nil {
			return err
		}
	}
	if s.NewSessionKeyring {
		if err := joinSessionKeyring(); err != nil {
			return err
		}
	}
	if s.Bounding != nil {
		if err := limitBounding(s.Bounding, last); err != nil {
			return err
		}
	}
	if s.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	return nil
}

// onThrowawayThread runs f on a goroutine locked to its thread and never
// unlocked, and returns what f returns. f may change what belongs to the
// thread (its namespaces, root, credentials); the Go runtime ends the
// thread with the goroutine instead of running other goroutines on it.
func onThrowawayThread(f func() (int, error)) (int, error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		n, err := f()
		done <- result{n, err}
	}()
	r := <-done
	return r.n, r.err
}

// joinMountNS moves the calling thread into the mount namespace that the
// fd ns holds (see NewMountNS). setns(2) into a mount namespace refuses a
// thread that shares its filesystem context (root, working directory,
// umask) with other threads, as every thread of a Go process does:
// unshare(CLONE_FS) first gives this thread a copy of its own. The
// kernel then sets the thread's root and working directory to the root
// of the namespace: the app's rootfs.
func joinMountNS(ns int) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare filesystem context: %w", err)
	}
	if err := unix.Setns(ns, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join the app's mount namespace: %w", err)
	}
	return nil
}

// joinSessionKeyring gives the calling thread a new anonymous session
// keyring, which its children inherit, instead of the caller's: the
// process no longer possesses the keys of whoever started the pod, and
// what it adds to its session keyring stays its own. Keyrings are part
// of a thread's credentials, so only this thread changes.
//
// The name is NULL, not "": unix.KeyctlJoinSessionKeyring("") would pass
// an empty name, and a named keyring is joined if one of that name exists
// and is searchable, which would give every app the same keyring.
func joinSessionKeyring() error {
	_, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	if errno != 0 {
		return fmt.Errorf("join a new session keyring: %w", errno)
	}
	return nil
}
