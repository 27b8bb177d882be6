package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/saturn-pods/saturn/mountinfo"
)

// Layout names how a host's cgroup filesystems are arranged.
type Layout string

const (
	// Legacy is cgroup v1 alone: one hierarchy per controller (or group of
	// co-mounted controllers), no unified hierarchy.
	Legacy Layout = "v1"
	// Hybrid is cgroup v1 for the controllers plus a cgroup2 mount
	// (usually /sys/fs/cgroup/unified) that tracks processes and holds
	// whatever controllers v1 left unbound.
	Hybrid Layout = "hybrid"
	// Unified is cgroup v2 alone: every controller in one hierarchy.
	Unified Layout = "v2"
)

// The controllers saturn may use. A v1 hierarchy of none of them
// (net_cls, perf_event…) is left alone, and so are named ones
// (name=systemd), which hold no controller.
var usedControllers = []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "io", "devices", "freezer"}

// baseControllers are the v1 hierarchies every pod gets a cgroup in:
// those of the limits every pod has (pids) or may get later (memory and
// cpu, by an update) and of the usage status reports (cpuacct). Others
// (blkio, cpuset) only when a limit needs them: on v1 each hierarchy a
// process moves in costs the move an RCU grace period, milliseconds.
var baseControllers = []string{"cpu", "cpuacct", "memory", "pids"}

// Host is the cgroup layout of the machine, as the calling process's mount
// namespace and cgroup namespace show it.
type Host struct {
	// Layout is which of the three arrangements the host uses.
	Layout Layout
	// Unified is the mount point of the cgroup2 filesystem, "" if none.
	Unified string
	// V1 maps each v1 controller saturn uses to the mount point of its
	// hierarchy. Co-mounted controllers share a mount point.
	V1 map[string]string
	// Systemd is true when systemd runs as PID 1 and so owns the cgroup
	// tree: a pod's cgroup then comes from it, as a transient scope.
	Systemd bool

	// home maps each mount point to the calling process's cgroup in
	// that hierarchy, where Pod.Remove moves the process back to.
	home map[string]string
}

// Detect reads the host's layout from the mount table and
// /proc/self/cgroup.
func Detect() (*Host, error) {
	ms, err := mountinfo.Mounts()
	if err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	defer f.Close()
	own, err := parseProcCgroup(f)
	if err != nil {
		return nil, fmt.Errorf("cgroups: read /proc/self/cgroup: %w", err)
	}
	h, err := layoutOf(ms, own)
	if err != nil {
		return nil, err
	}
	h.Systemd = systemdBooted()
	return h, nil
}

// systemdBooted is sd_booted(3): systemd made this directory as PID 1.
func systemdBooted() bool {
	st, err := os.Lstat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// procCgroup is one line of /proc/<pid>/cgroup: the controllers of a
// hierarchy ("" for the unified one, "name=X" for a named one) and the
// process's cgroup in it.
type procCgroup struct {
	controllers []string
	path        string
}

// parseProcCgroup reads /proc/<pid>/cgroup: "ID:controllers:path" lines.
func parseProcCgroup(r io.Reader) ([]procCgroup, error) {
	var out []procCgroup
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		id, rest, ok := strings.Cut(line, ":")
		ctrls, path, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 || id == "" || !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("bad line %q", line)
		}
		pc := procCgroup{path: path}
		if ctrls != "" {
			pc.controllers = strings.Split(ctrls, ",")
		}
		out = append(out, pc)
	}
	return out, sc.Err()
}

// layoutOf works out the layout from the mount table and the process's
// own cgroups. A v1 hierarchy counts only where its whole tree is
// mounted (root "/", which is also the cgroup namespace's root inside
// one); bind mounts of subtrees are not used.
func layoutOf(ms []mountinfo.Mount, own []procCgroup) (*Host, error) {
	h := &Host{V1: map[string]string{}, home: map[string]string{}}
	// Each hierarchy's controllers (and name=) → the process's cgroup.
	hierarchies := map[string]string{}
	unifiedHome := ""
	for _, pc := range own {
		if len(pc.controllers) == 0 {
			unifiedHome = pc.path
		}
		for _, c := range pc.controllers {
			hierarchies[c] = pc.path
		}
	}
	for _, m := range ms {
		if m.Root != "/" {
			continue
		}
		switch m.FSType {
		case "cgroup2":
			if h.Unified == "" && unifiedHome != "" {
				h.Unified = m.Point
				h.home[m.Point] = unifiedHome
			}
		case "cgroup":
			for _, opt := range strings.Split(m.SuperOptions, ",") {
				if home, ok := hierarchies[opt]; ok && slices.Contains(usedControllers, opt) && h.V1[opt] == "" {
					h.V1[opt] = m.Point
					h.home[m.Point] = home
				}
			}
		}
	}
	controllers := len(h.V1)
	switch {
	case controllers > 0 && h.Unified != "":
		h.Layout = Hybrid
	case controllers > 0:
		h.Layout = Legacy
	case h.Unified != "":
		h.Layout = Unified
	default:
		return nil, fmt.Errorf("cgroups: no cgroup filesystem is mounted")
	}
	return h, nil
}

// drivers returns the drivers for h's hierarchies: v1's and, where a
// cgroup2 filesystem is mounted, v2's.
func (h *Host) drivers() ([]driver, error) {
	var ds []driver
	if len(h.V1) > 0 {
		ds = append(ds, newV1(h.V1))
	}
	if h.Unified != "" {
		d, err := newV2(h.Unified)
		if err != nil {
			return nil, err
		}
		d.whole = len(h.V1) == 0
		ds = append(ds, d)
	}
	return ds, nil
}
