package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"time"
)

// Default parents of a pod's cgroup, as rkt's pods: under systemd the
// slice machines go in, elsewhere the cgroup of the same name.
const (
	DefaultSlice  = "machine.slice"
	DefaultParent = "/machine.slice"
)

// Config says where a pod's cgroups go and how each is limited.
type Config struct {
	// Parent is where the pod's cgroup is made: under systemd a slice
	// name (DefaultSlice if empty), elsewhere a cgroup path
	// (DefaultParent if empty; a relative one is taken from the root).
	Parent string
	// UUID is the pod's; the pod's cgroup is named after it.
	UUID string
	// Pod are the pod-wide limits, shared by all its apps. Pids defaults
	// to DefaultPidsLimit where the host has the pids controller.
	Pod Resources
	// Apps are the pod's apps, each with limits of its own.
	Apps []App
	// Record, when set, is called with the pod's cgroup path as soon as
	// it is known and before any cgroup directory is made, so that a
	// caller killed halfway leaves a note of what to remove.
	Record func(path string) error
}

// App is one app's cgroup.
type App struct {
	Name      string
	Resources Resources
}

// Pod is a pod's cgroup tree (see the package comment).
type Pod struct {
	// Path is the pod's cgroup, the same in every hierarchy.
	Path string
	uuid string
	host *Host
	ds   []driver
	// joined is set while the process that made the pod sits in its
	// stage1 cgroup (under systemd, see build).
	joined bool
}

// Create checks that every limit c asks for can be enforced, makes the
// pod's cgroups and sets their limits. The caller starts stage1's
// processes in Stage1 and each app's in App. Whatever fails leaves
// nothing behind.
func (h *Host) Create(c *Config) (*Pod, error) {
	ds, err := h.drivers()
	if err != nil {
		return nil, err
	}
	if !validName(c.UUID) {
		return nil, fmt.Errorf("cgroup: bad pod name %q", c.UUID)
	}
	podRes := c.Pod
	if podRes.Pids == 0 && anyHas(ds, "pids") {
		podRes.Pids = DefaultPidsLimit
	}
	if err := check(ds, &podRes); err != nil {
		return nil, fmt.Errorf("pod: %w", err)
	}
	for _, a := range c.Apps {
		if !validName(a.Name) {
			return nil, fmt.Errorf("cgroup: bad app name %q", a.Name)
		}
		if err := check(ds, &a.Resources); err != nil {
			return nil, fmt.Errorf("app %s: %w", a.Name, err)
		}
	}
	want := slices.Clone(baseControllers)
	for _, r := range append([]*Resources{&podRes}, appResources(c.Apps)...) {
		for _, wc := range r.controllers() {
			want = append(want, wc[1])
		}
	}
	for _, d := range ds {
		if v, ok := d.(*v1); ok {
			v.use(want)
		}
	}
	p := &Pod{uuid: c.UUID, host: h, ds: ds}
	if h.Systemd {
		if err := p.startScope(c.Parent); err != nil {
			return nil, err
		}
		// systemd moved this process into the scope: Remove must move
		// it out again before it kills what is left there.
		p.joined = true
	} else {
		parent := c.Parent
		if parent == "" {
			parent = DefaultParent
		}
		p.Path = path.Join("/", parent, podName(c.UUID, false))
	}
	if c.Record != nil {
		if err := c.Record(p.Path); err != nil {
			if rerr := p.Remove(); rerr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, rerr)
			}
			return nil, err
		}
	}
	if err := p.build(&podRes, c.Apps); err != nil {
		if rerr := p.Remove(); rerr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, rerr)
		}
		return nil, err
	}
	return p, nil
}

func appResources(apps []App) []*Resources {
	out := make([]*Resources, len(apps))
	for i := range apps {
		out[i] = &apps[i].Resources
	}
	return out
}

// build makes the tree below p.Path. Under systemd the calling process
// starts out in the pod's cgroup, the scope, and moves into stage1 before
// apps is made: that is when controllers get enabled in the pod's
// cgroup, which cgroup v2 allows only once it holds no process itself.
// Elsewhere the caller stays where it is (a move costs every hierarchy
// an RCU grace period) and starts stage1's processes in stage1.
func (p *Pod) build(podRes *Resources, apps []App) error {
	stage1 := p.Stage1().Path
	if p.host.Systemd {
		// Made bare first: enabling controllers in the scope, which
		// creating stage1 does on v2, is refused while this process is
		// in the scope itself.
		self := os.Getpid()
		for _, d := range p.ds {
			for _, dir := range d.dirs(stage1) {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fmt.Errorf("cgroup: %w", err)
				}
			}
			if err := d.join(stage1, self); err != nil {
				return err
			}
		}
	}
	for _, d := range p.ds {
		if err := d.create(stage1); err != nil {
			return err
		}
	}
	g := p.Apps()
	for _, d := range p.ds {
		if err := d.create(g.Path); err != nil {
			return err
		}
	}
	if err := g.Set(podRes); err != nil {
		return fmt.Errorf("pod: %w", err)
	}
	for _, a := range apps {
		g := p.App(a.Name)
		for _, d := range p.ds {
			if err := d.create(g.Path); err != nil {
				return err
			}
		}
		if err := g.Set(&a.Resources); err != nil {
			return fmt.Errorf("app %s: %w", a.Name, err)
		}
	}
	return nil
}

// Open returns the pod cgroup at path, as recorded for pod uuid when it
// was made, for updating limits, reading counters or removal. A path
// that is not named after the pod is refused.
func (h *Host) Open(path, uuid string) (*Pod, error) {
	if err := checkPodPath(path, uuid); err != nil {
		return nil, err
	}
	ds, err := h.drivers()
	if err != nil {
		return nil, err
	}
	return &Pod{Path: path, uuid: uuid, host: h, ds: ds}, nil
}

// Stage1 is the cgroup of stage1's own processes.
func (p *Pod) Stage1() *Group { return &Group{Path: path.Join(p.Path, stage1Name), ds: p.ds} }

// Apps is the cgroup of all of the pod's apps, holding its pod-wide
// limits.
func (p *Pod) Apps() *Group { return &Group{Path: path.Join(p.Path, appsName), ds: p.ds} }

// App is the cgroup of the app name.
func (p *Pod) App(name string) *Group {
	return &Group{Path: path.Join(p.Path, appsName, name), ds: p.ds}
}

// AppNames lists the apps that have a cgroup in the pod, from the first
// hierarchy the pod has cgroups in.
func (p *Pod) AppNames() ([]string, error) {
	var err error
	for _, d := range p.ds {
		for _, dir := range d.dirs(path.Join(p.Path, appsName)) {
			var ents []os.DirEntry
			if ents, err = os.ReadDir(dir); err != nil {
				continue
			}
			var names []string
			for _, e := range ents {
				if e.IsDir() {
					names = append(names, e.Name())
				}
			}
			return names, nil
		}
	}
	return nil, fmt.Errorf("cgroup: %w", err)
}

// Remove kills whatever still runs in the pod's cgroups and removes them
// from every hierarchy. The process that made the pod first moves back
// to the cgroups it came from. A pod whose cgroups are already gone is
// removed.
func (p *Pod) Remove() error {
	var errs []error
	if p.joined {
		if err := p.leave(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range p.ds {
		if err := d.kill(p.Path); err != nil {
			errs = append(errs, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, d := range p.ds {
		for _, dir := range d.dirs(p.Path) {
			if err := removeTree(dir, deadline); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// leave moves the calling process back to the cgroups it was in when the
// host was detected.
func (p *Pod) leave() error {
	self := strconv.Itoa(os.Getpid())
	for _, d := range p.ds {
		for _, mp := range d.dirs("/") {
			home, ok := p.host.home[mp]
			if !ok {
				continue
			}
			if err := writeFile(path.Join(mp, home, "cgroup.procs"), self); err != nil {
				return err
			}
		}
	}
	p.joined = false
	return nil
}
