package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/pod"
	"github.com/saturn-pods/saturn/stage1abi"
)

// flyWatcherArg is the watcher's first argument, which tells it from a
// process that took its pid over.
const flyWatcherArg = "--fly-watch"

// waitExitStatus gives stage1-fly's exit watcher time to record the exit
// status of an exited pod's app. On fly the app replaces stage1, so its
// parent learns of its exit at the same moment as the watcher and
// `saturn run; saturn status` could otherwise find the pod exited with no
// exit code yet. Pods without a watcher, and pods whose statuses are all
// written, return at once.
func waitExitStatus(p *pod.Pod, timeout time.Duration) {
	if p.State() != pod.StateExited {
		return
	}
	pm, err := p.Manifest()
	if err != nil || len(pm.Apps) == 0 {
		return
	}
	pidfd, ok := flyWatcher(filepath.Join(p.Stage1RootfsPath(), stage1abi.FlyWatcher))
	if !ok {
		return
	}
	defer unix.Close(pidfd)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := p.AppExitCode(pm.Apps[0].Name.String()); err == nil {
			return
		}
		// The pidfd turns readable when the watcher is gone: whatever it
		// was to write is written by then.
		if n, err := unix.Poll(fds, 5); err == nil && n > 0 {
			return
		}
	}
}

// flyWatcher returns a pidfd of the exit watcher whose pid file is at
// path, if that watcher still runs.
func flyWatcher(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return -1, false
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, false
	}
	// Read after pidfd_open, so a match surely describes the process the
	// pidfd holds and not an earlier owner of the pid.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "\x00"+flyWatcherArg+"\x00") {
		unix.Close(pidfd)
		return -1, false
	}
	return pidfd, true
}
