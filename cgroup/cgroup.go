// Package cgroup puts a pod and its apps in control groups, limits them
// and reads what they use. It knows the three layouts a Linux host may
// have (cgroup v1, v1 with a hybrid unified mount, pure v2: see Detect)
// through one small driver interface with a file per hierarchy kind
// (v1.go, v2.go), and makes the pod's cgroup either directly in the
// cgroup filesystem or, where systemd is PID 1 and owns the tree, as a
// transient scope systemd delegates to the pod (systemd.go).
//
// A pod's tree, the same path in every hierarchy:
//
//	<parent>/saturn-<uuid>[.scope]  the pod; holds no process itself
//	├── stage1                      stage1's own processes (run entrypoint, PID 1, helpers)
//	└── apps                        pod-wide limits: they hit the apps only
//	    └── <app>                   one per app, its own limits
//
// stage1 sits beside the apps so that limits meant for the apps never
// starve the supervisor, and because cgroup v2 lets only leaves hold
// processes once controllers are enabled below a cgroup.
package cgroup

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"syscall"
)

// Names inside a pod's cgroup.
const (
	stage1Name = "stage1"
	appsName   = "apps"
	podPrefix  = "saturn-"
)

// DefaultPidsLimit is the pids limit of a pod's apps when nothing else
// is asked for: a fork bomb in a pod stops there instead of exhausting
// the host's pid space (pid_max is 4194304 on 64-bit hosts, often much
// less). systemd's default TasksMax for a unit is 15% of pid_max, which
// is more than one pod should take.
const DefaultPidsLimit = 4096

// Resources are the limits of one cgroup. A zero field is left as it is.
type Resources struct {
	// Memory is the most memory, in bytes, the cgroup's processes may
	// use (swap included, where swap is accounted) before the kernel
	// reclaims and, failing that, OOM-kills one of them.
	Memory int64
	// CPUQuota is how much CPU time, in microseconds, the cgroup may use
	// per CPUPeriod (default DefaultCPUPeriod); see CPUQuotaOf.
	CPUQuota  int64
	CPUPeriod int64
	// CPUShares is the cgroup v1 weight (2…262144, default 1024); on
	// cgroup v2 it is converted to cpu.weight by SharesToWeight.
	CPUShares uint64
	// Pids is the most processes and threads the cgroup may hold.
	Pids int64
	// BlockBPS and BlockIOPS limit reads and writes, each, of every
	// block device of the host (appc's "default": true) in bytes and
	// operations per second.
	BlockBPS  uint64
	BlockIOPS uint64
	// CPUs and Mems are cpuset lists ("0-1,3") of the CPUs and memory
	// nodes the cgroup may use.
	CPUs, Mems string
}

// IsZero reports whether r sets no limit at all.
func (r *Resources) IsZero() bool { return r == nil || *r == (Resources{}) }

// controllers returns, for each limit r sets, its name for errors and
// the controller (by its v1 name; v2 names blkio "io") that enforces it.
func (r *Resources) controllers() [][2]string {
	var out [][2]string
	add := func(set bool, what, ctrl string) {
		if set {
			out = append(out, [2]string{what, ctrl})
		}
	}
	add(r.Memory != 0, "memory limit", "memory")
	add(r.CPUQuota != 0 || r.CPUPeriod != 0, "cpu limit", "cpu")
	add(r.CPUShares != 0, "cpu shares", "cpu")
	add(r.Pids != 0, "pids limit", "pids")
	add(r.BlockBPS != 0, "block bandwidth limit", "blkio")
	add(r.BlockIOPS != 0, "block iops limit", "blkio")
	add(r.CPUs != "" || r.Mems != "", "cpuset", "cpuset")
	return out
}

// Stats is what a cgroup's processes use, read from its counters.
type Stats struct {
	// MemoryBytes is the memory charged to the cgroup now (page cache
	// included, as the limit counts it).
	MemoryBytes uint64
	// CPUNanos is the CPU time its processes have used, in nanoseconds.
	CPUNanos uint64
	// OOMKills counts the processes of the cgroup the kernel killed for
	// lack of memory, under the cgroup's limit, an ancestor's, or the
	// whole host's.
	OOMKills uint64
	// Pids is how many processes and threads it holds now.
	Pids uint64
}

// driver is one kind of hierarchy: cgroup v1's set of controller
// hierarchies, or v2's unified one. Paths are cgroup paths ("/a/b"), the
// same in every hierarchy; a driver maps them to its mounts.
type driver interface {
	// has reports whether the driver holds the controller, by its v1
	// name.
	has(controller string) bool
	// create makes path and its missing ancestors, each ready to hold
	// processes and limits; an existing one is left as it is.
	create(path string) error
	// set writes the limits of r whose controllers the driver holds.
	set(path string, r *Resources) error
	// join moves the process pid, all its threads, into path.
	join(path string, pid int) error
	// kill sends SIGKILL to every process in path and below.
	kill(path string) error
	// dirs returns path's directory in each of the driver's mounts.
	dirs(path string) []string
	// open opens path for starting processes in it and reading its
	// counters through descriptors, after the caller left the mount
	// namespace the paths mean something in.
	open(path string) (handle, error)
}

// handle is an open cgroup of one driver.
type handle interface {
	// prepare makes the next child the calling thread forks with sys
	// start in the cgroup. It may move the thread itself, which must be
	// locked and never unlocked (see Target.Prepare).
	prepare(sys *syscall.SysProcAttr) error
	// stats adds what the driver counts to s.
	stats(s *Stats) error
	// views returns the cgroup's directories as an app's view shows
	// them (see Target.Views).
	views() []View
	close()
}

// Group is one cgroup, at the same path in every hierarchy of a host.
type Group struct {
	Path string
	ds   []driver
}

// Set writes the limits r sets to g, after checking that the host has a
// controller for each of them.
func (g *Group) Set(r *Resources) error {
	if err := check(g.ds, r); err != nil {
		return err
	}
	for _, d := range g.ds {
		if err := d.set(g.Path, r); err != nil {
			return err
		}
	}
	return nil
}

// Stats reads what g's processes use.
func (g *Group) Stats() (Stats, error) {
	t, err := g.Open()
	if err != nil {
		return Stats{}, err
	}
	defer t.Close()
	return t.Stats()
}

// Open opens g for starting processes in it and reading its counters
// later, also from another mount namespace (see Target).
func (g *Group) Open() (*Target, error) {
	t := &Target{}
	for _, d := range g.ds {
		h, err := d.open(g.Path)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.hs = append(t.hs, h)
	}
	return t, nil
}

// check refuses r if one of its limits has no controller on the host: a
// limit the user asked for is enforced or the pod does not start.
func check(ds []driver, r *Resources) error {
	for _, wc := range r.controllers() {
		if !anyHas(ds, wc[1]) {
			return fmt.Errorf("cannot enforce the %s: the host has no %s cgroup controller", wc[0], wc[1])
		}
	}
	return nil
}

func anyHas(ds []driver, ctrl string) bool {
	for _, d := range ds {
		if d.has(ctrl) {
			return true
		}
	}
	return false
}

// Target is a cgroup opened as descriptors: a process that pivots away
// from the host's filesystem (the pod's PID 1) opens its apps' cgroups
// first and still starts apps in them and reads their counters.
type Target struct {
	hs []handle
}

// Prepare makes the next child forked with sys by the calling thread
// start in t's cgroup. On cgroup v2 that is clone3's CLONE_INTO_CGROUP
// (sys.UseCgroupFD). On cgroup v1, which has no such flag, the calling
// thread moves itself into the cgroup (every hierarchy's "tasks" file),
// so that the child it forks starts there: the caller must run this on a
// goroutine locked to its thread with runtime.LockOSThread and never
// unlock it, so that the Go runtime ends the thread, which is left in the
// app's cgroup, instead of running other goroutines on it.
func (t *Target) Prepare(sys *syscall.SysProcAttr) error {
	for _, h := range t.hs {
		if err := h.prepare(sys); err != nil {
			return err
		}
	}
	return nil
}

// ClonesInto reports whether Prepare has the child cloned into the
// cgroup (clone3's CLONE_INTO_CGROUP, for a unified hierarchy) rather
// than only moving the calling thread (v1).
func (t *Target) ClonesInto() bool {
	for _, h := range t.hs {
		if _, ok := h.(*v2Handle); ok {
			return true
		}
	}
	return false
}

// Stats reads what the cgroup's processes use.
func (t *Target) Stats() (Stats, error) {
	var s Stats
	for _, h := range t.hs {
		if err := h.stats(&s); err != nil {
			return s, err
		}
	}
	return s, nil
}

// View is one directory of an app's /sys/fs/cgroup: the app's cgroup in
// one hierarchy, to be bind-mounted read-only from Dir (an fd t holds).
type View struct {
	// Name is the hierarchy's directory below /sys/fs/cgroup, as on the
	// host ("memory", "cpu,cpuacct", "unified"); "" for the unified
	// hierarchy of a pure v2 host, which is /sys/fs/cgroup itself.
	Name string
	Dir  int
	// Aliases are symlinks to Name a host has for co-mounted
	// controllers ("cpu" and "cpuacct" for "cpu,cpuacct").
	Aliases []string
}

// Views lists what an app started in t sees at /sys/fs/cgroup: its own
// cgroup in each hierarchy, the host's hierarchy above it never. On a
// pure v2 host that is one view named "", else one per hierarchy, under a
// directory of the caller's own (a read-only tmpfs, as hosts have).
func (t *Target) Views() []View {
	var vs []View
	for _, h := range t.hs {
		vs = append(vs, h.views()...)
	}
	if len(vs) == 1 && vs[0].Name == "unified" {
		if h, ok := t.hs[0].(*v2Handle); ok && h.d.whole {
			vs[0].Name = ""
		}
	}
	return vs
}

// Close closes t's descriptors.
func (t *Target) Close() {
	for _, h := range t.hs {
		h.close()
	}
	t.hs = nil
}

// validName reports whether s can name an app's cgroup: one path
// element, never a control file's name (those hold a dot).
func validName(s string) bool {
	return s != "" && len(s) <= 255 && !strings.ContainsAny(s, "/.\x00\n")
}

// podName is the pod cgroup's name for a pod UUID.
func podName(uuid string, scope bool) string {
	if scope {
		return podPrefix + uuid + ".scope"
	}
	return podPrefix + uuid
}

// errNotPod is returned for a path that does not name a pod's cgroup.
var errNotPod = errors.New("not a pod cgroup")

// checkPodPath refuses a recorded pod path that does not end in the
// pod's own name, so that a damaged file in the pod directory cannot
// make gc kill or remove another cgroup's processes.
func checkPodPath(p, uuid string) error {
	base := path.Base(p)
	if !path.IsAbs(p) || path.Clean(p) != p || (base != podName(uuid, false) && base != podName(uuid, true)) {
		return fmt.Errorf("cgroup %q: %w %s", p, errNotPod, uuid)
	}
	return nil
}
