package main

import (
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1-fly/flywatch"
	"github.com/saturn-pods/saturn/stage1abi"
)

// gcMain releases what fly allocated for an exited pod: `gc [--debug]
// <uuid>`, cwd the pod dir. It waits for the exit watcher to finish, so
// stage0 does not delete the pod while the status is being written. The
// app's mounts live in its own mount namespace and vanish with it; gc
// only removes mounts that reached the host's namespace below the app
// rootfs anyway (a leak must not keep the pod directory from being
// removed).
func gcMain(args []string) int {
	f, err := stage1abi.ParseGCFlags(args)
	if err != nil {
		logf("gc: %v", err)
		return exitFailure
	}
	if err := gc(f.Debug); err != nil {
		logf("gc: %v", err)
		return exitFailure
	}
	return 0
}

func gc(debug bool) error {
	dir, err := filepath.Abs(".")
	if err != nil {
		return err
	}
	// The exit watcher may still be writing the app's status; deleting
	// the pod under it would race.
	if err := flywatch.WaitGone(filepath.Join(dir, stage1abi.Stage1Rootfs, stage1abi.RktDir), 5*time.Second); err != nil {
		logf("gc: %v", err)
	}
	points, err := hostMountPoints()
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	apps, err := filepath.Glob(filepath.Join(dir, stage1abi.Stage1Rootfs, stage1abi.AppRootfs("*")))
	if err != nil {
		return err
	}
	for _, rootfs := range apps {
		for _, m := range mountsBelow(points, rootfs) {
			if debug {
				logf("gc: unmounting %s", m)
			}
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
				return fmt.Errorf("unmount %s: %w", m, err)
			}
		}
	}
	return nil
}
