package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
)

// stopMain signals the app: `stop [--force] <uuid>`, cwd the pod dir.
// With no supervisor, the app is the pod; SIGTERM lets it end itself,
// --force kills it. Once the app is gone, what it left holding the pod
// lock is signalled instead.
func stopMain(args []string) int {
	f, err := stage1abi.ParseStopFlags(args)
	if err != nil {
		logf("stop: %v", err)
		return exitFailure
	}
	if err := stop(f.Force); err != nil {
		logf("stop: %v", err)
		return exitFailure
	}
	return 0
}

func stop(force bool) error {
	pid, err := stage1abi.ReadPid(".")
	if err != nil {
		return fmt.Errorf("pod pid: %w", err)
	}
	sig := unix.SIGTERM
	if force {
		sig = unix.SIGKILL
	}
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	// The pid is pinned, then signalled only if it holds the pod lock:
	// the app's pid may since have been given to another process.
	pidfd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == nil:
		defer unix.Close(pidfd)
		if holdsLock(fmt.Sprintf("/proc/%d/fd", pid), dir) {
			err = unix.PidfdSendSignal(pidfd, sig, nil, 0)
			if err != nil && err != unix.ESRCH {
				return fmt.Errorf("signal %d: %w", pid, err)
			}
			return nil
		}
	case err != unix.ESRCH:
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	// The app is gone (or its pid is another process's) but the pod
	// still counts as running: processes it left behind hold the pod
	// lock it inherited. They are the pod now (rkt fly falls back to
	// the app's process group for this).
	return signalLockHolders(dir, sig)
}

// signalLockHolders signals every process holding the lock of the pod
// directory dir through a descriptor inherited from the app: /proc/PID/fdinfo
// lists a lock only on the open file that holds it, so processes that
// merely opened the pod directory (stage0 itself) are left alone.
func signalLockHolders(dir string, sig unix.Signal) error {
	procs, err := filepath.Glob("/proc/[0-9]*/fd")
	if err != nil {
		return err
	}
	self := os.Getpid()
	for _, fdDir := range procs {
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(fdDir)))
		if pid == self || !holdsLock(fdDir, dir) {
			continue
		}
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return fmt.Errorf("signal %d: %w", pid, err)
		}
	}
	return nil
}

// holdsLock reports whether one of the descriptors in fdDir names dir
// and carries a lock.
func holdsLock(fdDir, dir string) bool {
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err != nil || target != dir {
			continue
		}
		info, err := os.ReadFile(filepath.Join(filepath.Dir(fdDir), "fdinfo", fd.Name()))
		if err == nil && strings.Contains(string(info), "\nlock:") {
			return true
		}
	}
	return false
}
