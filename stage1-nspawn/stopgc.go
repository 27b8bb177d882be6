package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/mountinfo"
	"github.com/saturn-pods/saturn/stage1abi"
)

// stopMain is the stop entrypoint ([--force] <uuid>, cwd the pod
// directory): SIGTERM asks the supervisor to stop the apps gracefully,
// SIGKILL ends the whole pod at once. A pod that has already exited is
// stopped: stop succeeds quietly, as stage0 does when it signals a pod
// itself.
func stopMain(args []string) int {
	f, err := stage1abi.ParseStopFlags(args)
	if err != nil {
		return fail(fmt.Errorf("stop: %w", err))
	}
	pid, running, err := waitPodPid(stopPidWait)
	if err != nil {
		return fail(fmt.Errorf("stop: pod %s: %w", f.UUID, err))
	}
	if !running {
		return 0
	}
	sig := unix.SIGTERM
	if f.Force {
		sig = unix.SIGKILL
	}
	if err := signalPod(".", pid, sig); err != nil {
		return fail(fmt.Errorf("stop: pod %s (pid %d): %w", f.UUID, pid, err))
	}
	return 0
}

// procStartTime returns the start time of process pid as /proc/PID/stat
// gives it, "" if it cannot be read.
func procStartTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name, in parentheses, may hold spaces and ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// signalPod sends sig to pid, the pod's PID 1 named by the pid file of
// the pod directory dir, only if the pod still runs. The pid file stays
// after the pod has exited, and its pid may since have been given to
// another process. So the process is pinned with a pidfd first, then
// signalled through it only if the pod is still locked (gc and rm lock an
// exited pod too), the process is the PID 1 of a PID namespace of its own
// and started when the run entrypoint recorded (stage1abi.PidStartTimeFile; another
// pod's or container's PID 1 may have the pid now). A pod found not
// running, or a PID 1 already gone, is stopped: nothing is signalled and
// that is no error.
func signalPod(dir string, pid int, sig unix.Signal) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == unix.ESRCH:
		return nil
	case err == unix.ENOSYS || err == unix.EPERM:
		// Kernels before 5.3, or a seccomp filter that refuses
		// pidfd_open: the checks alone narrow the race to the moment
		// between them and kill.
		pidfd = -1
	case err != nil:
		return fmt.Errorf("pidfd_open: %w", err)
	default:
		defer unix.Close(pidfd)
	}
	locked, err := podLocked(dir)
	if err != nil {
		return err
	}
	if !locked || !isNamespaceInit(pid) || !startedAsRecorded(dir, pid) {
		return nil
	}
	if pidfd < 0 {
		err = unix.Kill(pid, sig)
	} else {
		err = unix.PidfdSendSignal(pidfd, sig, nil, 0)
	}
	if err != nil && err != unix.ESRCH {
		return err
	}
	return nil
}

// startedAsRecorded reports whether pid started when the pod's
// stage1abi.PidStartTimeFile says its PID 1 did; a pod dir without the file (a test's,
// or one made by an earlier stage1) is taken at its word.
func startedAsRecorded(dir string, pid int) bool {
	want, err := stage1abi.ReadPidStartTime(dir)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	return want == procStartTime(pid)
}

// isNamespaceInit reports whether pid is PID 1 of a PID namespace below
// this process's: the last of its NSpid numbers is 1.
func isNamespaceInit(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "NSpid:"); ok {
			f := strings.Fields(rest)
			return len(f) > 1 && f[len(f)-1] == "1"
		}
	}
	return false
}

// stopPidWait bounds how long stop waits for a starting pod's pid file.
const stopPidWait = 10 * time.Second

// pidPollInterval is how often stop looks for the pid file meanwhile.
const pidPollInterval = 5 * time.Millisecond

// waitPodPid returns the pid in the pod's pid file (cwd the pod
// directory). The run entrypoint writes it only once PID 1 catches the
// stop signals, a few milliseconds into the pod's life; a stop in that
// window waits for it (as rkt's stop waited for the pod's pid) while
// the pod directory is locked, i.e. while the pod runs. running is false
// when the pod is no longer locked and has no pid file: it has exited.
// With a pid file, running is true without a look at the lock: the pid
// may be stale, which signalPod checks.
func waitPodPid(timeout time.Duration) (pid int, running bool, err error) {
	deadline := time.Now().Add(timeout)
	for {
		pid, err := stage1abi.ReadPid(".")
		if err == nil {
			return pid, true, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return 0, false, err
		}
		locked, lerr := podLocked(".")
		if lerr != nil {
			return 0, false, lerr
		}
		if !locked {
			// The pid file may have appeared just before the pod
			// exited and released its lock: one more look.
			if _, err := os.Stat(stage1abi.PidFile); err == nil {
				continue
			}
			return 0, false, nil
		}
		if time.Now().After(deadline) {
			return 0, false, fmt.Errorf("running, but no pid file after %v", timeout)
		}
		time.Sleep(pidPollInterval)
	}
}

// podLocked reports whether another process holds the pod directory's
// lock, which the run entrypoint keeps for the pod's whole life: a
// non-blocking shared flock fails exactly then (as stage0 samples it).
// The probe lock goes with the fd.
func podLocked(dir string) (bool, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("open pod directory: %w", err)
	}
	defer unix.Close(fd)
	err = unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB)
	if err == unix.EWOULDBLOCK {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock pod directory: %w", err)
	}
	return false, nil
}

// gcMain is the gc entrypoint ([--debug] <uuid>, cwd the pod directory).
// The pod's mounts live in its own mount namespace and vanish with it;
// gc detaches any that still show up below the stage1 rootfs on the host
// (the rootfs overlays themselves belong to stage0 and are left alone).
func gcMain(args []string) int {
	f, err := stage1abi.ParseGCFlags(args)
	if err != nil {
		return fail(fmt.Errorf("gc: %w", err))
	}
	podDir, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	// The networks first: their records and namespace are in the pod
	// directory, which stage0 unmounts and deletes after this.
	if err := teardownNetwork(podDir, f.UUID); err != nil {
		return fail(fmt.Errorf("gc: %w", err))
	}
	mounts, err := stage1Mounts(podDir)
	if err != nil {
		return fail(fmt.Errorf("gc: %w", err))
	}
	for _, m := range mounts {
		if f.Debug {
			fmt.Fprintf(os.Stderr, "stage1: gc: unmounting %s\n", m)
		}
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fail(fmt.Errorf("gc: unmount %s: %w", m, err))
		}
	}
	// What a killed run entrypoint could not remove.
	if err := removeRecordedCgroups(f.UUID); err != nil {
		return fail(fmt.Errorf("gc: %w", err))
	}
	return 0
}

// stage1Mounts lists host mount points stage1 could have made below the
// pod's stage1 rootfs, deepest first.
func stage1Mounts(podDir string) ([]string, error) {
	s1 := filepath.Join(podDir, "stage1", "rootfs")
	keep := map[string]bool{s1: true}
	if pm, err := loadPlanManifestOnly(); err == nil {
		for _, a := range pm.Apps {
			keep[filepath.Join(s1, "opt", "stage2", a.Name, "rootfs")] = true
		}
	}
	all, err := mountinfo.Under(s1)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, mp := range all {
		if !keep[mp] {
			out = append(out, mp)
		}
	}
	return out, nil
}

// loadPlanManifestOnly reads the pod manifest from the current (pod)
// directory.
func loadPlanManifestOnly() (*podManifest, error) {
	return readPodManifest("pod")
}
