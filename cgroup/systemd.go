package cgroup

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// Where systemd is PID 1 it owns the cgroup tree: a process that makes
// cgroups behind its back may see them moved or removed. A pod asks it
// for a transient scope in a slice (machine.slice by default, where rkt's
// pods went) with Delegate=yes, which hands the scope's subtree to the
// pod: below it, the pod's cgroups are made and limited through the
// cgroup filesystem like anywhere else. The scope is made with the
// calling process (the run entrypoint) in it, as a scope needs one, and
// systemd removes it once it is empty.

// scopeTimeout bounds the wait for systemd's job.
const scopeTimeout = 30 * time.Second

// startScope asks systemd for the pod's scope in slice and sets p.Path
// to its cgroup.
func (p *Pod) startScope(slice string) error {
	if slice == "" {
		slice = DefaultSlice
	}
	if !strings.HasSuffix(slice, ".slice") || strings.Contains(slice, "/") {
		return fmt.Errorf("cgroup parent %q: under systemd it is a slice name, like %s", slice, DefaultSlice)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scopeTimeout)
	defer cancel()
	// The manager's private socket: no D-Bus daemon needed, root only.
	conn, err := sddbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		return fmt.Errorf("cgroup: connect to systemd: %w", err)
	}
	defer conn.Close()
	name := podName(p.uuid, true)
	props := scopeProperties(slice, p.uuid, os.Getpid())
	done := make(chan string, 1)
	if _, err := conn.StartTransientUnitContext(ctx, name, "fail", props, done); err != nil {
		return fmt.Errorf("cgroup: systemd scope %s: %w", name, err)
	}
	select {
	case res := <-done:
		if res != "done" {
			return fmt.Errorf("cgroup: systemd scope %s: job %s", name, res)
		}
	case <-ctx.Done():
		return fmt.Errorf("cgroup: systemd scope %s: %w", name, ctx.Err())
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	p.Path, err = scopePath(own, name)
	if err != nil {
		return err
	}
	for _, d := range p.ds {
		if v, ok := d.(*v2); ok {
			if err := v.delegated(p.Path); err != nil {
				return err
			}
		}
	}
	return nil
}

// scopeProperties are the transient scope's unit properties.
func scopeProperties(slice, uuid string, pid int) []sddbus.Property {
	return []sddbus.Property{
		sddbus.PropDescription("saturn pod " + uuid),
		sddbus.PropSlice(slice),
		sddbus.PropPids(uint32(pid)),
		{Name: "Delegate", Value: dbus.MakeVariant(true)},
		// A scope that failed is collected too, not kept for inspection:
		// its name is the pod's and will not come back.
		{Name: "CollectMode", Value: dbus.MakeVariant("inactive-or-failed")},
	}
}

// scopePath finds the scope's cgroup in /proc/self/cgroup (the unified
// line or, on v1, systemd's named hierarchy), which systemd moved the
// calling process into.
func scopePath(procCgroup []byte, scope string) (string, error) {
	pcs, err := parseProcCgroup(strings.NewReader(string(procCgroup)))
	if err != nil {
		return "", fmt.Errorf("cgroup: read /proc/self/cgroup: %w", err)
	}
	for _, pc := range pcs {
		named := len(pc.controllers) == 1 && pc.controllers[0] == "name=systemd"
		if (len(pc.controllers) == 0 || named) && strings.HasSuffix(pc.path, "/"+scope) {
			return pc.path, nil
		}
	}
	return "", fmt.Errorf("cgroup: systemd made scope %s but this process is not in it", scope)
}
