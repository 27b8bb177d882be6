package main

import (
	"fmt"
	"io"
	"os"

	"github.com/saturn-pods/saturn/pod"
)

// podUsage is what status adds from the apps' cgroups: how many
// processes of each app were OOM-killed and, while the pod runs, the
// memory and CPU time each app uses now.
type podUsage struct {
	names []string // the pod's apps, in manifest order
	oom   map[string]uint64
	live  map[string]pod.AppUsage // nil unless the pod runs
}

// appUsage reads the OOM kills stage1 recorded and, for a running pod,
// asks its stage1 for every app's usage. A stage1 without cgroups adds
// nothing; a failure to read usage is warned about, not fatal: status
// still tells the pod's state.
func appUsage(g *globals, p *pod.Pod) *podUsage {
	u := &podUsage{oom: map[string]uint64{}}
	pm, err := p.Manifest()
	if err != nil {
		return u
	}
	for _, ra := range pm.Apps {
		name := ra.Name.String()
		u.names = append(u.names, name)
		if n := p.AppOOMKills(name); n > 0 {
			u.oom[name] = n
		}
	}
	if !p.Running() {
		return u
	}
	live, ok, err := p.Usage(hostTrees(g))
	if err != nil {
		// The pod may have exited meanwhile, taking its cgroups along.
		if p.Refresh() == nil && p.Running() {
			fmt.Fprintf(os.Stderr, "saturn: warning: %v\n", err)
		}
		return u
	}
	if ok {
		u.live = live
		for name, a := range live {
			if a.OOMKills > u.oom[name] {
				u.oom[name] = a.OOMKills
			}
		}
	}
	return u
}

// print adds status lines: oom-kills-<app>=N for an app with OOM kills,
// and while the pod runs memory-<app>=BYTES and cpu-<app>=NANOSECONDS.
// rkt's app-<app>= lines stay as they are: these keys cannot be taken
// for one of them whatever the app is called.
func (u *podUsage) print(w io.Writer) {
	for _, name := range u.names {
		if a, ok := u.live[name]; ok {
			fmt.Fprintf(w, "memory-%s=%d\ncpu-%s=%d\n", name, a.MemoryBytes, name, a.CPUNanos)
		}
		if n := u.oom[name]; n > 0 {
			fmt.Fprintf(w, "oom-kills-%s=%d\n", name, n)
		}
	}
}

// addJSON adds the same to status's JSON apps.
func (u *podUsage) addJSON(j *podJSON) {
	for _, a := range j.Apps {
		a.OOMKills = u.oom[a.Name]
		if l, ok := u.live[a.Name]; ok {
			mem, cpu := l.MemoryBytes, l.CPUNanos
			a.MemoryBytes, a.CPUNanos = &mem, &cpu
		}
	}
}
