package cgroup

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// v2 is the unified hierarchy: one tree for every controller, where a
// controller reaches a cgroup only if each ancestor lists it in
// cgroup.subtree_control, and (below the root) only a cgroup without
// processes may list any: processes live in leaves.
type v2 struct {
	root  string
	avail []string // controllers of the root saturn uses, by v2 name
	// top is the cgroup above which create enables nothing: "/" for a
	// tree saturn owns from the root, a systemd scope's path for one
	// systemd delegated (systemd owns the cgroups above it).
	top string
	// whole is set when the host has no v1 hierarchy: this one is all
	// of /sys/fs/cgroup.
	whole bool
}

// v2Controllers are the v2 controllers saturn enables below a pod.
var v2Controllers = []string{"cpu", "cpuset", "io", "memory", "pids"}

func newV2(root string) (*v2, error) {
	b, err := readFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	d := &v2{root: root, top: "/"}
	d.avail = usedOf(b)
	return d, nil
}

// usedOf picks the controllers saturn uses from a cgroup.controllers
// file's content.
func usedOf(b []byte) []string {
	var out []string
	for _, c := range strings.Fields(string(b)) {
		if slices.Contains(v2Controllers, c) {
			out = append(out, c)
		}
	}
	return out
}

// delegated narrows d to a subtree systemd delegated: create enables
// nothing above top, and only the controllers top has.
func (d *v2) delegated(top string) error {
	b, err := readFile(filepath.Join(d.root, top, "cgroup.controllers"))
	if err != nil {
		return err
	}
	d.top, d.avail = top, usedOf(b)
	return nil
}

// v2Name is the v2 name of a controller named as in v1.
func v2Name(c string) string {
	if c == "blkio" {
		return "io"
	}
	return c
}

func (d *v2) has(c string) bool { return slices.Contains(d.avail, v2Name(c)) }

func (d *v2) dirs(path string) []string { return []string{filepath.Join(d.root, path)} }

// create enables the controllers in every ancestor of path, from the
// root down, making missing ones on the way.
func (d *v2) create(path string) error {
	dir, cg := d.root, "/"
	for _, elem := range strings.Split(strings.Trim(path, "/"), "/") {
		if cg == d.top || strings.HasPrefix(cg, strings.TrimSuffix(d.top, "/")+"/") {
			if err := d.enable(dir); err != nil {
				return err
			}
		}
		dir, cg = filepath.Join(dir, elem), filepath.Join(cg, elem)
		if _, err := mkdir(dir); err != nil {
			return err
		}
	}
	return nil
}

// enable lists the available controllers in dir's subtree_control,
// writing only those not listed yet.
func (d *v2) enable(dir string) error {
	if len(d.avail) == 0 {
		return nil
	}
	cur, err := readFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	on := strings.Fields(string(cur))
	var add []string
	for _, c := range d.avail {
		if !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	err = writeFile(filepath.Join(dir, "cgroup.subtree_control"), strings.Join(add, " "))
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("cgroup %s holds processes, and cgroup v2 enables no controller below a cgroup that does (give a parent without processes): %w",
			strings.TrimPrefix(dir, d.root), err)
	}
	return err
}

func (d *v2) set(path string, r *Resources) error {
	dir := filepath.Join(d.root, path)
	if r.Memory != 0 && d.has("memory") {
		if err := writeFile(filepath.Join(dir, "memory.max"), strconv.FormatInt(r.Memory, 10)); err != nil {
			return err
		}
		// No swap beyond the limit, as v1's memory+swap limit.
		if f := filepath.Join(dir, "memory.swap.max"); exists(f) {
			if err := writeFile(f, "0"); err != nil {
				return err
			}
		}
	}
	if d.has("cpu") {
		if r.CPUQuota != 0 || r.CPUPeriod != 0 {
			period := r.CPUPeriod
			if period == 0 {
				period = DefaultCPUPeriod
			}
			quota := "max"
			if r.CPUQuota != 0 {
				quota = strconv.FormatInt(r.CPUQuota, 10)
			}
			if err := writeFile(filepath.Join(dir, "cpu.max"), quota+" "+strconv.FormatInt(period, 10)); err != nil {
				return err
			}
		}
		if r.CPUShares != 0 {
			w := strconv.FormatUint(SharesToWeight(r.CPUShares), 10)
			if err := writeFile(filepath.Join(dir, "cpu.weight"), w); err != nil {
				return err
			}
		}
	}
	if r.Pids != 0 && d.has("pids") {
		if err := writeFile(filepath.Join(dir, "pids.max"), strconv.FormatInt(r.Pids, 10)); err != nil {
			return err
		}
	}
	if (r.BlockBPS != 0 || r.BlockIOPS != 0) && d.has("io") {
		if err := setIOV2(dir, r); err != nil {
			return err
		}
	}
	if d.has("cpuset") {
		for _, kv := range [][2]string{{"cpuset.mems", r.Mems}, {"cpuset.cpus", r.CPUs}} {
			if kv[1] != "" {
				if err := writeFile(filepath.Join(dir, kv[0]), kv[1]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// setIOV2 writes io.max for every block device.
func setIOV2(dir string, r *Resources) error {
	devs, err := blockDevices()
	if err != nil {
		return err
	}
	var lim []string
	if r.BlockBPS != 0 {
		v := strconv.FormatUint(r.BlockBPS, 10)
		lim = append(lim, "rbps="+v, "wbps="+v)
	}
	if r.BlockIOPS != 0 {
		v := strconv.FormatUint(r.BlockIOPS, 10)
		lim = append(lim, "riops="+v, "wiops="+v)
	}
	for _, dev := range devs {
		if err := writeFile(filepath.Join(dir, "io.max"), dev+" "+strings.Join(lim, " ")); err != nil {
			return err
		}
	}
	return nil
}

func (d *v2) join(path string, pid int) error {
	return writeFile(filepath.Join(d.root, path, "cgroup.procs"), strconv.Itoa(pid))
}

// kill uses cgroup.kill (Linux 5.14), which kills the whole subtree at
// once, forks racing it included; before that kernel, the processes are
// signalled one by one as on v1.
func (d *v2) kill(path string) error {
	dir := filepath.Join(d.root, path)
	if !exists(dir) {
		return nil
	}
	if f := filepath.Join(dir, "cgroup.kill"); exists(f) {
		if err := writeFile(f, "1"); err != nil && !gone(err) {
			return err
		}
		return waitUnpopulated(dir, time.Now().Add(5*time.Second))
	}
	return (&v1{points: []string{d.root}}).kill(path)
}

// waitUnpopulated waits until no process is left in dir and below, or
// dir is gone.
func waitUnpopulated(dir string, deadline time.Time) error {
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		n, err := keyedAt(unix.AT_FDCWD, filepath.Join(dir, "cgroup.events"), "populated")
		if gone(err) {
			return nil
		}
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup: processes of %s did not die", dir)
		}
		time.Sleep(wait)
	}
}

func (d *v2) open(path string) (handle, error) {
	dir := filepath.Join(d.root, path)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup: open %s: %w", dir, err)
	}
	return &v2Handle{fd: fd, d: d}, nil
}

type v2Handle struct {
	fd int
	d  *v2
}

// prepare has clone3 start the child in the cgroup (CLONE_INTO_CGROUP):
// v2 moves whole processes only, and this way the child is never in
// another cgroup, not even between fork and exec.
func (h *v2Handle) prepare(sys *syscall.SysProcAttr) error {
	sys.UseCgroupFD = true
	sys.CgroupFD = h.fd
	return nil
}

func (h *v2Handle) stats(s *Stats) error {
	var err error
	if h.d.has("memory") {
		if s.MemoryBytes, err = readUintAt(h.fd, "memory.current"); err != nil {
			return err
		}
		if s.OOMKills, err = keyedAt(h.fd, "memory.events", "oom_kill"); err != nil {
			return err
		}
	}
	// cpu.stat's usage is there with or without the cpu controller; v1's
	// cpuacct, on a hybrid host, has counted the same time already.
	if s.CPUNanos == 0 {
		usec, err := keyedAt(h.fd, "cpu.stat", "usage_usec")
		if err != nil {
			return err
		}
		s.CPUNanos = usec * 1000
	}
	if h.d.has("pids") {
		if s.Pids, err = readUintAt(h.fd, "pids.current"); err != nil {
			return err
		}
	}
	return nil
}

func (h *v2Handle) views() []View {
	return []View{{Name: "unified", Dir: h.fd}}
}

func (h *v2Handle) close() {
	if h.fd >= 0 {
		unix.Close(h.fd)
		h.fd = -1
	}
}
