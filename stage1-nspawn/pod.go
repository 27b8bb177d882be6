package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/fdmount"
	"github.com/saturn-pods/saturn/network"
	"github.com/saturn-pods/saturn/stage1abi"
)

// podRun is the state of the pod's PID 1 while it sets the pod up.
type podRun struct {
	flags  *runFlags
	plan   *podPlan
	podDir string
	s1     string // stage1 rootfs, host path

	mu      sync.Mutex
	volumes map[string]string // empty volume name -> host dir
}

// podMain is PID 1 of the pod, in the new namespaces: it builds the
// pod's filesystem, pivots into the stage1 rootfs and runs the
// supervisor.
func podMain(args []string) int {
	// Stop signals are caught while the pod is set up. Until then the
	// run entrypoint neither writes the pid file nor forwards signals
	// (see tellCaught): PID 1 would die of a stop instead of stopping its
	// apps, and a stop during setup must not be lost.
	sigs, caught := catchStopSignals()
	// Taken first, so the fds are close-on-exec before anything can start.
	notifier := openPodNotifier()
	tty, err := openPodTTY()
	if err != nil {
		return fail(err)
	}
	sockets, err := openPodSockets()
	if err != nil {
		return fail(err)
	}
	logs, err := openPodJournal()
	if err != nil {
		return fail(err)
	}
	if err := tellCaught(caught); err != nil {
		return fail(err)
	}
	f, err := parseRunFlags(args)
	if err != nil {
		return fail(err)
	}
	podDir, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	plan, err := readPlanFD()
	if err != nil {
		return fail(err)
	}
	p := &podRun{flags: f, plan: plan, podDir: podDir, s1: filepath.Join(podDir, "stage1", "rootfs"), volumes: map[string]string{}}
	if err := p.setup(); err != nil {
		return fail(err)
	}
	tty.closeConsole()
	if err := dropPID1Privileges(plan.apps); err != nil {
		return fail(err)
	}
	detachHostRoot()
	makeAppNamespaces(plan.apps)
	caught()
	sv := newSupervisor(f, plan)
	sv.notify = notifier
	sv.tty = tty
	sv.sockets = sockets
	if logs != nil {
		sv.journal = &podJournal{conn: logs, uuid: f.UUID, unit: plan.logUnit}
	}
	return sv.run(sigs)
}

func (p *podRun) setup() error {
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	// pivot_root needs the new root to be a mount point; the bind is
	// recursive to keep app rootfs overlays stage0 mounted below it.
	// It is nodev, recursively: apps keep CAP_MKNOD and saturn has no
	// device cgroup, so a node an app makes in its rootfs must not
	// open. stage0 mounts the overlays nodev already; this covers app
	// rootfs copied with --no-overlay (directories of this mount) and
	// overlays a stage0 mounted without nodev. Read-only stays as it
	// was: mount_setattr changes only the attribute it is given.
	if err := fdmount.Bind(p.s1, p.s1, true, unix.MOUNT_ATTR_NODEV); err != nil {
		return err
	}
	if err := setupStage1FS(p.s1, p.flags.DisablePaths); err != nil {
		return err
	}
	if p.flags.DNSConfMode.Hosts == "stage0" {
		if err := addHostnameToStage0Hosts(p.s1, p.flags.Hostname); err != nil {
			return err
		}
	}
	// While the host's cgroup filesystems are still reachable.
	if err := openAppCgroups(p.plan, p.flags.UUID); err != nil {
		return err
	}
	for _, a := range p.plan.apps {
		if err := setupAppFS(p, a, filepath.Join(p.s1, a.rel, "rootfs")); err != nil {
			return err
		}
	}
	if err := pivot(p.s1); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(p.flags.Hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	if p.flags.Net == "none" {
		return network.LoopbackUp()
	}
	return nil
}

// hostRoot is where the host's root is while PID 1 detaches it from its
// namespace, beneath the stage1 rootfs (see pivot).
const hostRoot = "/.host-root"

// pivot makes root the root of the mount namespace, with the old root,
// the host's, moved beneath it to hostRoot, for detachHostRoot to take
// away. Detaching a mount makes the kernel wait for an RCU grace period
// before it returns, up to milliseconds; the apps' mount namespaces wait
// for one too, and the two waits overlap rather than add up when the
// host's root is detached on the side. No app ever sees PID 1's
// namespace: each has its own, made without the stage1 rootfs and
// whatever lies below it, the host's root included (appns.go).
func pivot(root string) error {
	if err := unix.Mkdir(filepath.Join(root, hostRoot), 0o700); err != nil && err != unix.EEXIST {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."+hostRoot); err != nil {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	return unix.Chdir("/")
}

// detachHostRoot detaches the host's root, which pivot left at hostRoot,
// from PID 1's namespace, on a goroutine of its own (see pivot), and
// returns at once. Nothing of the host is then reachable from PID 1.
func detachHostRoot() {
	go func() {
		if err := unix.Unmount(hostRoot, unix.MNT_DETACH); err != nil {
			fmt.Fprintf(os.Stderr, "stage1: warning: detach the host's root: %v\n", err)
		}
	}()
}

// emptyVolume returns the host directory backing an empty volume,
// creating it under the pod directory the first time an app mounts it so
// every app of the pod shares it. fresh says this is that first time and
// the directory is empty: the mount may fill it (see mountVolume).
func (p *podRun) emptyVolume(m mountPlan) (dir string, fresh bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.volumes[m.volume]; ok {
		return d, false, nil
	}
	d := filepath.Join(p.podDir, stage1abi.SharedVolumesDir, m.volume)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", false, err
	}
	if err := unix.Chmod(d, m.mode); err != nil {
		return "", false, err
	}
	if err := os.Chown(d, m.uid, m.gid); err != nil {
		return "", false, err
	}
	p.volumes[m.volume] = d
	ents, err := os.ReadDir(d)
	return d, err == nil && len(ents) == 0, nil
}
