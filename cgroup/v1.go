package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// v1 is cgroup v1: a hierarchy per controller or group of co-mounted
// controllers (cpu,cpuacct), each its own mount.
type v1 struct {
	mounts map[string]string // controller → mount point
	points []string          // each mount point once
	// only, when set, are the mount points create and join work in:
	// the hierarchies of the controllers a pod uses (see use).
	only map[string]bool
}

// use narrows create and join to the hierarchies of ctrls.
func (d *v1) use(ctrls []string) {
	d.only = map[string]bool{}
	for _, c := range ctrls {
		if p := d.mounts[c]; p != "" {
			d.only[p] = true
		}
	}
}

// used lists the mount points create and join work in.
func (d *v1) used() []string {
	if d.only == nil {
		return d.points
	}
	var out []string
	for _, p := range d.points {
		if d.only[p] {
			out = append(out, p)
		}
	}
	return out
}

func newV1(mounts map[string]string) *v1 {
	d := &v1{mounts: mounts}
	for _, p := range mounts {
		if !slices.Contains(d.points, p) {
			d.points = append(d.points, p)
		}
	}
	slices.Sort(d.points)
	return d
}

func (d *v1) has(c string) bool { return d.mounts[c] != "" }

func (d *v1) dirs(path string) []string {
	out := make([]string, len(d.points))
	for i, p := range d.points {
		out[i] = filepath.Join(p, path)
	}
	return out
}

// dir is path in the hierarchy of controller c.
func (d *v1) dir(c, path string) string { return filepath.Join(d.mounts[c], path) }

func (d *v1) create(path string) error {
	for _, p := range d.used() {
		cpuset := p == d.mounts["cpuset"]
		dir := p
		for _, elem := range strings.Split(strings.Trim(path, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, elem)
			if _, err := mkdir(dir); err != nil {
				return err
			}
			if cpuset {
				if err := inheritCpuset(parent, dir); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// inheritCpuset gives a v1 cpuset cgroup its parent's CPUs and memory
// nodes where it has none: v1 makes new cpusets empty (unless the parent
// has cgroup.clone_children set), and an empty cpuset takes no process.
func inheritCpuset(parent, dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := readFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		if len(strings.TrimSpace(string(cur))) > 0 {
			continue
		}
		v, err := readFile(filepath.Join(parent, f))
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, f), string(v)); err != nil {
			return err
		}
	}
	return nil
}

func (d *v1) set(path string, r *Resources) error {
	if r.Memory != 0 && d.has("memory") {
		if err := setMemoryV1(d.dir("memory", path), r.Memory); err != nil {
			return err
		}
	}
	if d.has("cpu") {
		dir := d.dir("cpu", path)
		if r.CPUQuota != 0 || r.CPUPeriod != 0 {
			period := r.CPUPeriod
			if period == 0 {
				period = DefaultCPUPeriod
			}
			if err := writeFile(filepath.Join(dir, "cpu.cfs_period_us"), strconv.FormatInt(period, 10)); err != nil {
				return err
			}
			if r.CPUQuota != 0 {
				if err := writeFile(filepath.Join(dir, "cpu.cfs_quota_us"), strconv.FormatInt(r.CPUQuota, 10)); err != nil {
					return err
				}
			}
		}
		if r.CPUShares != 0 {
			if err := writeFile(filepath.Join(dir, "cpu.shares"), strconv.FormatUint(r.CPUShares, 10)); err != nil {
				return err
			}
		}
	}
	if r.Pids != 0 && d.has("pids") {
		if err := writeFile(filepath.Join(d.dir("pids", path), "pids.max"), strconv.FormatInt(r.Pids, 10)); err != nil {
			return err
		}
	}
	if (r.BlockBPS != 0 || r.BlockIOPS != 0) && d.has("blkio") {
		if err := setBlkioV1(d.dir("blkio", path), r); err != nil {
			return err
		}
	}
	if d.has("cpuset") {
		dir := d.dir("cpuset", path)
		// Memory nodes first: a cpuset must never be left with CPUs of
		// the new value and nodes the kernel refuses with them.
		if r.Mems != "" {
			if err := writeFile(filepath.Join(dir, "cpuset.mems"), r.Mems); err != nil {
				return err
			}
		}
		if r.CPUs != "" {
			if err := writeFile(filepath.Join(dir, "cpuset.cpus"), r.CPUs); err != nil {
				return err
			}
		}
	}
	return nil
}

// setMemoryV1 sets the memory limit and, where swap is accounted
// (memory.memsw.*), the memory+swap limit to the same value, so that
// the limit cannot be dodged by swapping. The memory limit may never
// exceed memory+swap, so which is written first depends on the way the
// limit moves.
func setMemoryV1(dir string, limit int64) error {
	mem := filepath.Join(dir, "memory.limit_in_bytes")
	memsw := filepath.Join(dir, "memory.memsw.limit_in_bytes")
	v := strconv.FormatInt(limit, 10)
	if !exists(memsw) {
		return wrapMemoryErr(writeFile(mem, v), limit)
	}
	cur, err := readUintAt(unix.AT_FDCWD, mem)
	if err != nil {
		return err
	}
	order := []string{mem, memsw}
	if uint64(limit) > cur {
		order = []string{memsw, mem}
	}
	for _, f := range order {
		if err := writeFile(f, v); err != nil {
			return wrapMemoryErr(err, limit)
		}
	}
	return nil
}

// wrapMemoryErr explains EBUSY: v1 refuses a limit below what the
// cgroup holds when it cannot reclaim down to it.
func wrapMemoryErr(err error, limit int64) error {
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("memory limit %d bytes is below what the cgroup uses and cannot reclaim: %w", limit, err)
	}
	return err
}

// setBlkioV1 writes the throttle rules for every block device.
func setBlkioV1(dir string, r *Resources) error {
	devs, err := blockDevices()
	if err != nil {
		return err
	}
	rules := []struct {
		file string
		v    uint64
	}{
		{"blkio.throttle.read_bps_device", r.BlockBPS},
		{"blkio.throttle.write_bps_device", r.BlockBPS},
		{"blkio.throttle.read_iops_device", r.BlockIOPS},
		{"blkio.throttle.write_iops_device", r.BlockIOPS},
	}
	for _, rule := range rules {
		if rule.v == 0 {
			continue
		}
		for _, dev := range devs {
			if err := writeFile(filepath.Join(dir, rule.file), dev+" "+strconv.FormatUint(rule.v, 10)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *v1) join(path string, pid int) error {
	for _, p := range d.used() {
		if err := writeFile(filepath.Join(p, path, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// kill sends SIGKILL to the processes in path and below until none is
// left or a deadline passes. v1 cannot kill a cgroup at once, so a
// process forking meanwhile is caught on a later round; the pods' pids
// limit bounds how many rounds that takes. v1 lists a process in every
// cgroup one of its threads is in, and the caller may still have a
// thread it placed a child with (Target.Prepare) that is ending: the
// caller itself is never signalled.
func (d *v1) kill(path string) error {
	deadline := time.Now().Add(5 * time.Second)
	self := os.Getpid()
	for {
		var pids []int
		for _, p := range d.points {
			ps, err := procsBelow(filepath.Join(p, path))
			if err != nil {
				return err
			}
			for _, pid := range ps {
				if pid != self {
					pids = append(pids, pid)
				}
			}
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup: %d processes of %s did not die", len(pids), path)
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// procsBelow lists the processes in the cgroup directory dir and below;
// a directory that is gone holds none.
func procsBelow(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.IsDir() {
			return nil
		}
		ps, err := pidsIn(filepath.Join(p, "cgroup.procs"))
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		pids = append(pids, ps...)
		return nil
	})
	return pids, err
}

func (d *v1) open(path string) (handle, error) {
	h := &v1Handle{fds: map[string]int{}, d: d}
	for _, p := range d.points {
		fd, err := unix.Open(filepath.Join(p, path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT && !d.only[p] {
			// A hierarchy the pod has no cgroup in (see use).
			continue
		}
		if err != nil {
			h.close()
			return nil, fmt.Errorf("cgroup: open %s: %w", filepath.Join(p, path), err)
		}
		h.fds[p] = fd
	}
	fdOf := func(c string) int {
		if fd, ok := h.fds[d.mounts[c]]; ok && d.has(c) {
			return fd
		}
		return -1
	}
	h.memory, h.cpuacct, h.pids = fdOf("memory"), fdOf("cpuacct"), fdOf("pids")
	return h, nil
}

type v1Handle struct {
	d                     *v1
	fds                   map[string]int // mount point → the cgroup's directory
	memory, cpuacct, pids int
}

// prepare moves the calling thread into the cgroup in every hierarchy:
// v1 places single threads ("tasks" takes a thread id), and a child
// forked by this thread starts in its cgroups.
func (h *v1Handle) prepare(*syscall.SysProcAttr) error {
	tid := strconv.Itoa(unix.Gettid())
	for _, fd := range h.fds {
		if err := writeAt(fd, "tasks", tid); err != nil {
			return err
		}
	}
	return nil
}

func (h *v1Handle) stats(s *Stats) error {
	var err error
	if h.memory >= 0 {
		if s.MemoryBytes, err = readUintAt(h.memory, "memory.usage_in_bytes"); err != nil {
			return err
		}
		if s.OOMKills, err = keyedAt(h.memory, "memory.oom_control", "oom_kill"); err != nil {
			return err
		}
	}
	if h.cpuacct >= 0 {
		if s.CPUNanos, err = readUintAt(h.cpuacct, "cpuacct.usage"); err != nil {
			return err
		}
	}
	if h.pids >= 0 {
		if s.Pids, err = readUintAt(h.pids, "pids.current"); err != nil {
			return err
		}
	}
	return nil
}

func (h *v1Handle) views() []View {
	var vs []View
	for p, fd := range h.fds {
		v := View{Name: filepath.Base(p), Dir: fd}
		for c, mp := range h.d.mounts {
			if mp == p && c != v.Name {
				v.Aliases = append(v.Aliases, c)
			}
		}
		slices.Sort(v.Aliases)
		vs = append(vs, v)
	}
	slices.SortFunc(vs, func(a, b View) int { return strings.Compare(a.Name, b.Name) })
	return vs
}

func (h *v1Handle) close() {
	for _, fd := range h.fds {
		unix.Close(fd)
	}
	h.fds = nil
}
