package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/atomicfile"
	"github.com/saturn-pods/saturn/cgroup"
	"github.com/saturn-pods/saturn/fdmount"
	"github.com/saturn-pods/saturn/stage1abi"
)

// Every pod gets cgroups (package cgroup): the run entrypoint makes the
// pod's tree before PID 1 exists and forks PID 1 into the pod's stage1
// cgroup, where its helpers start too; PID 1 opens each app's
// cgroup before it pivots away from the host's filesystem and starts
// every process of the app in it (launch.Spec.Cgroup), in a cgroup
// namespace rooted there; the run entrypoint removes the tree when PID 1
// has exited, gc when the run entrypoint could not (it was killed).

// The isolators stage1-nspawn enforces with cgroups, pod-wide (the pod
// manifest's) and per app.
const (
	isoMemory         = "resource/memory"
	isoCPU            = "resource/cpu"
	isoCPUShares      = "os/linux/cpu-shares"
	isoBlockBandwidth = "resource/block-bandwidth"
	isoBlockIOPS      = "resource/block-iops"
)

// cgroupIsolators are the isolators cgroupResources reads.
var cgroupIsolators = map[string]bool{
	isoMemory: true, isoCPU: true, isoCPUShares: true, isoBlockBandwidth: true, isoBlockIOPS: true,
}

// cgroupResources decodes the cgroup isolators among isos, with appc's
// checks of their values. A limit is enforced or the pod refused: the
// host's controllers are checked when the cgroups are made.
func cgroupResources(isos []appIsolator) (cgroup.Resources, error) {
	var r cgroup.Resources
	for _, iso := range isos {
		if !cgroupIsolators[iso.Name] {
			continue
		}
		if err := decodeCgroupIsolator(iso, &r); err != nil {
			return r, fmt.Errorf("isolator %s: %w", iso.Name, err)
		}
	}
	return r, nil
}

func decodeCgroupIsolator(iso appIsolator, r *cgroup.Resources) error {
	switch iso.Name {
	case isoMemory, isoCPU:
		var v struct {
			Request string `json:"request"`
			Limit   string `json:"limit"`
		}
		if err := json.Unmarshal(iso.Value, &v); err != nil {
			return err
		}
		// As rkt, only the limit is enforced; a request alone asks for
		// nothing a cgroup can hold to.
		if v.Limit == "" {
			return nil
		}
		if iso.Name == isoMemory {
			b, err := cgroup.ParseQuantity(v.Limit, 0)
			if err == nil && b <= 0 {
				err = fmt.Errorf("limit %q must be positive", v.Limit)
			}
			r.Memory = b
			return err
		}
		milli, err := cgroup.ParseQuantity(v.Limit, 3)
		if err != nil {
			return err
		}
		r.CPUQuota, err = cgroup.CPUQuotaOf(milli)
		return err
	case isoCPUShares:
		var n int64
		if err := json.Unmarshal(iso.Value, &n); err != nil {
			return err
		}
		if n < cgroup.MinShares || n > cgroup.MaxShares {
			return fmt.Errorf("must be between %d and %d, got %d", cgroup.MinShares, cgroup.MaxShares, n)
		}
		r.CPUShares = uint64(n)
	case isoBlockBandwidth, isoBlockIOPS:
		var v struct {
			Default bool   `json:"default"`
			Limit   string `json:"limit"`
		}
		if err := json.Unmarshal(iso.Value, &v); err != nil {
			return err
		}
		if !v.Default {
			return errors.New(`"default" must be true (a limit for every block device)`)
		}
		n, err := cgroup.ParseQuantity(v.Limit, 0)
		if err == nil && n <= 0 {
			err = fmt.Errorf("limit %q must be positive", v.Limit)
		}
		if iso.Name == isoBlockBandwidth {
			r.BlockBPS = uint64(n)
		} else {
			r.BlockIOPS = uint64(n)
		}
		return err
	}
	return nil
}

// makePodCgroups makes the pod's cgroups with every limit the pod asks
// for; a limit the host cannot enforce refuses the pod. The path is
// recorded in the pod directory before anything is made. PID 1 is
// started in the pod's stage1 cgroup (forkPodInit); the run entrypoint
// stays where it was started, but under systemd, where it is moved from
// the pod's scope into stage1.
func makePodCgroups(podDir string, f *runFlags, p *podPlan) (*cgroup.Pod, error) {
	h, err := cgroup.Detect()
	if err != nil {
		return nil, err
	}
	c := &cgroup.Config{
		Parent: p.cgroupParent,
		UUID:   f.UUID,
		Pod:    p.resources,
		Record: func(path string) error {
			return atomicfile.Write(filepath.Join(podDir, stage1abi.SubcgroupFile), []byte(path+"\n"), 0o644)
		},
	}
	for _, a := range p.apps {
		c.Apps = append(c.Apps, cgroup.App{Name: a.name, Resources: a.resources})
	}
	pod, err := h.Create(c)
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	p.cgroupPath = pod.Path
	return pod, nil
}

// forkPodInit runs fork, the ForkExec of the pod's PID 1 with sys, so
// that PID 1 starts in the pod's stage1 cgroup and, through nw.forkIn,
// in the pod's network namespace. On v2 clone3 starts it in the cgroup,
// on v1 the forking thread moves itself there first (see
// cgroup.Target.Prepare). So the fork runs on a goroutine locked to a
// thread of its own and never unlocked, not on the main thread, which
// would be left in stage1's cgroup, keeping it from removal. That thread
// is PID 1's parent thread, whose exit would send PID 1 its Pdeathsig:
// it waits for PID 1 to exit (leaving it unreaped, as the caller's own
// wait does) and only then ends, with the goroutine.
func forkPodInit(cg *cgroup.Pod, nw *podNet, sys *syscall.SysProcAttr, fork func() (int, error)) (int, error) {
	stage1, err := cg.Stage1().Open()
	if err != nil {
		return 0, err
	}
	defer stage1.Close()
	type result struct {
		pid int
		err error
	}
	started := make(chan result, 1)
	go func() {
		// Never unlocked: the thread may be left in stage1's cgroup.
		runtime.LockOSThread()
		if err := stage1.Prepare(sys); err != nil {
			started <- result{0, err}
			return
		}
		pid, err := nw.forkIn(fork)
		started <- result{pid, err}
		if err == nil {
			waitExited(pid)
		}
	}()
	r := <-started
	return r.pid, r.err
}

// removePodCgroups removes the pod's cgroups once PID 1 has exited. A
// failure leaves them to gc and is only warned about: the pod's exit code
// is its apps'.
func removePodCgroups(pod *cgroup.Pod) {
	if pod == nil {
		return
	}
	if err := pod.Remove(); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: warning: cgroups left for gc: %v\n", err)
	}
}

// openAppCgroups (PID 1, before it leaves the host's filesystem) opens
// the cgroup of every app, for starting its processes in it and for
// reading its OOM kills when it exits.
func openAppCgroups(p *podPlan, uuid string) error {
	h, err := cgroup.Detect()
	if err != nil {
		return err
	}
	pod, err := h.Open(p.cgroupPath, uuid)
	if err != nil {
		return err
	}
	for _, a := range p.apps {
		t, err := pod.App(a.name).Open()
		if err != nil {
			return fmt.Errorf("app %s: %w", a.name, err)
		}
		a.cgroup = t
		a.spec.Cgroup = t
	}
	return nil
}

// mountCgroupView mounts app a's view of its cgroups on dir, the app's
// /sys/fs/cgroup: its own cgroup in each hierarchy, bound read-only from
// the descriptors PID 1 holds, so the app reads its limits and usage (a
// runtime sizing itself by them) and sees nothing above its cgroup. The
// host's hierarchy is never writable from a pod: a v1 release_agent is
// in a hierarchy's root only, which an app never sees. On pure v2 the
// view is the app's cgroup itself; with v1 hierarchies it is a read-only
// tmpfs holding one directory per hierarchy, as hosts lay them out.
func mountCgroupView(a *appPlan, dir *os.File) error {
	if a.cgroup == nil {
		return nil
	}
	const ro = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	vs := a.cgroup.Views()
	if len(vs) == 1 && vs[0].Name == "" {
		return bindView(vs[0].Dir, int(dir.Fd()), "")
	}
	tfd, err := fdmount.New("tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := fdmount.Attach(tfd, int(dir.Fd()), ""); err != nil {
		return fmt.Errorf("mount the cgroup view: %w", err)
	}
	if err := chmodMountRoot(tfd, 0o755); err != nil {
		return err
	}
	for _, v := range vs {
		if err := unix.Mkdirat(tfd, v.Name, 0o755); err != nil {
			return fmt.Errorf("cgroup view %s: %w", v.Name, err)
		}
		if err := bindView(v.Dir, tfd, v.Name); err != nil {
			return err
		}
		for _, alias := range v.Aliases {
			if err := unix.Symlinkat(v.Name, tfd, alias); err != nil {
				return fmt.Errorf("cgroup view %s: %w", alias, err)
			}
		}
	}
	return fdmount.SetAttr(tfd, "", false, ro)
}

// bindView binds the cgroup directory cg read-only on name in dir.
func bindView(cg, dir int, name string) error {
	mfd, err := fdmount.Clone(cg, "", false, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if err := fdmount.Attach(mfd, dir, name); err != nil {
		return fmt.Errorf("mount the cgroup view %s: %w", name, err)
	}
	return nil
}

// chmodMountRoot sets the mode of the root of the mount mfd (a new
// tmpfs's is 1777).
func chmodMountRoot(mfd int, mode uint32) error {
	fd, err := unix.Openat(mfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cgroup view: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("cgroup view: %w", err)
	}
	return nil
}

// oomDir, in the stage1 rootfs, holds rkt/oom-kills/<app>: how many of
// the app's processes the kernel killed for lack of memory, written when
// the app exits if any were (docs/stage1-abi.md).
var oomDir = "/" + stage1abi.OOMKillsDir

// recordOOMKills notes the OOM kills of app a when it has exited.
func recordOOMKills(a *appPlan) error {
	if a.cgroup == nil {
		return nil
	}
	st, err := a.cgroup.Stats()
	if err != nil || st.OOMKills == 0 {
		return err
	}
	if err := os.MkdirAll(oomDir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(oomDir, a.name), []byte(strconv.FormatUint(st.OOMKills, 10)+"\n"), 0o644)
}

// openRecordedPod finds the pod's cgroups from the subcgroup file in the
// pod directory (the working directory); ok is false when there is none
// (a pod that never got so far).
func openRecordedPod(uuid string) (pod *cgroup.Pod, ok bool, err error) {
	b, err := os.ReadFile(stage1abi.SubcgroupFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	id, err := stage1abi.ParseUUID(uuid)
	if err != nil {
		return nil, false, fmt.Errorf("bad pod UUID %q: %w", uuid, err)
	}
	h, err := cgroup.Detect()
	if err != nil {
		return nil, false, err
	}
	pod, err = h.Open(strings.TrimSpace(string(b)), id)
	return pod, err == nil, err
}

// removeRecordedCgroups is gc's part: the cgroups a killed run entrypoint
// could not remove.
func removeRecordedCgroups(uuid string) error {
	pod, ok, err := openRecordedPod(uuid)
	if err != nil || !ok {
		return err
	}
	return pod.Remove()
}

// updateMain is the update entrypoint (annotation
// saturn-pods.org/stage1/update): [--app=NAME] [--memory=QUANTITY]
// [--cpu=QUANTITY] [--cpu-shares=N] UUID, cwd the pod directory, the
// values as run's flags take them (--memory=64M, --cpu=250m). It changes
// the limits of a running pod: an app's, or with no --app the pod-wide
// ones all its apps share.
func updateMain(args []string) int {
	f, err := stage1abi.ParseUpdateFlags(args)
	if err != nil {
		return fail(fmt.Errorf("update: %w", err))
	}
	app := f.App
	r, err := updateResources(f.Memory, f.CPU, f.CPUShares)
	if err != nil {
		return fail(fmt.Errorf("update: %w", err))
	}
	pod, ok, err := openRecordedPod(f.UUID)
	if err == nil && !ok {
		err = errors.New("the pod has no cgroups")
	}
	if err != nil {
		return fail(fmt.Errorf("update: %w", err))
	}
	g := pod.Apps()
	if app != "" {
		if !validAppCgroup(pod, app) {
			return fail(fmt.Errorf("update: the pod has no app %q", app))
		}
		g = pod.App(app)
	}
	if err := g.Set(&r); err != nil {
		return fail(fmt.Errorf("update: %w", err))
	}
	return 0
}

// updateResources reads update's limits.
func updateResources(mem, cpu string, shares uint64) (cgroup.Resources, error) {
	var r cgroup.Resources
	if mem != "" {
		b, err := cgroup.ParseQuantity(mem, 0)
		if err != nil || b < 4096 {
			return r, fmt.Errorf("--memory=%s: want a size of at least 4096 bytes, e.g. 64M", mem)
		}
		r.Memory = b
	}
	if cpu != "" {
		milli, err := cgroup.ParseQuantity(cpu, 3)
		if err == nil {
			r.CPUQuota, err = cgroup.CPUQuotaOf(milli)
		}
		if err != nil {
			return r, fmt.Errorf("--cpu=%s: %w", cpu, err)
		}
	}
	if shares != 0 && (shares < cgroup.MinShares || shares > cgroup.MaxShares) {
		return r, fmt.Errorf("--cpu-shares=%d: must be between %d and %d", shares, cgroup.MinShares, cgroup.MaxShares)
	}
	r.CPUShares = shares
	if r.IsZero() {
		return r, errors.New("no limit given (--memory, --cpu, --cpu-shares)")
	}
	return r, nil
}

// validAppCgroup reports whether the pod has a cgroup for app.
func validAppCgroup(pod *cgroup.Pod, app string) bool {
	names, err := pod.AppNames()
	if err != nil {
		return false
	}
	for _, n := range names {
		if n == app {
			return true
		}
	}
	return false
}

// appUsage is one app's line of the stats entrypoint's output.
type appUsage struct {
	Name        string `json:"name"`
	MemoryBytes uint64 `json:"memory_bytes"`
	CPUNanos    uint64 `json:"cpu_ns"`
	OOMKills    uint64 `json:"oom_kills"`
	Pids        uint64 `json:"pids"`
}

// statsMain is the stats entrypoint (annotation
// saturn-pods.org/stage1/stats): UUID, cwd the pod directory. It prints
// what each app of a running pod uses, from its cgroup, as JSON:
// {"apps":[{"name":…,"memory_bytes":…,"cpu_ns":…,"oom_kills":…,"pids":…}]}.
func statsMain(args []string) int {
	uuid, err := stage1abi.ParseStatsFlags(args)
	if err != nil {
		return fail(fmt.Errorf("stats: %w", err))
	}
	pod, ok, err := openRecordedPod(uuid)
	if err == nil && !ok {
		err = errors.New("the pod has no cgroups")
	}
	if err != nil {
		return fail(fmt.Errorf("stats: %w", err))
	}
	names, err := pod.AppNames()
	if err != nil {
		return fail(fmt.Errorf("stats: %w", err))
	}
	out := struct {
		Apps []appUsage `json:"apps"`
	}{Apps: []appUsage{}}
	for _, n := range names {
		st, err := pod.App(n).Stats()
		if err != nil {
			return fail(fmt.Errorf("stats: app %s: %w", n, err))
		}
		out.Apps = append(out.Apps, appUsage{n, st.MemoryBytes, st.CPUNanos, st.OOMKills, st.Pids})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return fail(fmt.Errorf("stats: %w", err))
	}
	return 0
}
