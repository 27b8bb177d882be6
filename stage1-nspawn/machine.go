package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/saturn-pods/saturn/machined"
)

// The pod registers with systemd-machined as the machine saturn-<uuid>
// (machineName; rkt's pods were rkt-<uuid>) once PID 1 exists, so
// machinectl lists it, and unregisters when PID 1 has exited. Without a
// system bus or machined this is silently off (--debug says why). The
// run entrypoint does it, in the background: the pod starts meanwhile,
// and only the READY=1 it relays to systemd waits for it, so that a
// unit that is active shows its machine.

// machineTimeout bounds each call to machined; the first may wait for
// the bus to start machined.
const machineTimeout = 30 * time.Second

// podMachine is the pod's registration, under way or done.
type podMachine struct {
	done chan struct{} // closed when registration ended, whatever its outcome
	reg  *machined.Registration
}

// registerMachine starts registering the pod whose PID 1 is pid.
func registerMachine(f *runFlags, podDir string, pid int) *podMachine {
	m := &podMachine{done: make(chan struct{})}
	go func() {
		defer close(m.done)
		var err error
		m.reg, err = register(f, podDir, pid)
		switch {
		case err == nil:
		case errors.Is(err, machined.ErrUnavailable), errors.Is(err, errNotOwnUnit), exited(pid):
			// Nobody to register with, or nothing to register any
			// more: the pod is over before machined heard of it.
			if f.Debug {
				fmt.Fprintf(os.Stderr, "stage1: pod not registered with machined: %v\n", err)
			}
		default:
			fmt.Fprintf(os.Stderr, "stage1: warning: pod not registered with machined: %v\n", err)
		}
	}()
	return m
}

// machineName is the pod's name as a machine, in machined and in the
// journal's CONTAINER_NAME: rkt's pods were rkt-<uuid>.
func machineName(uuid string) string { return "saturn-" + uuid }

// errNotOwnUnit: PID 1 is in no unit of the pod's own.
var errNotOwnUnit = errors.New("not in a unit of its own")

func register(f *runFlags, podDir string, pid int) (*machined.Registration, error) {
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	m, err := machineFor(f.UUID, podDir, pid, unitOf(string(cg)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), machineTimeout)
	defer cancel()
	return machined.Register(ctx, machined.SystemBus(), m)
}

// machineFor is what machined is told of the pod uuid in podDir whose
// PID 1, pid, is in the systemd unit unit. machined's machine is that
// unit, which machinectl terminate stops: it must be the pod's own scope
// (package cgroup's, under systemd) or the service saturn runs as, never,
// say, a login session's scope; outside any unit systemd does not manage
// the pod, and machined would not take it.
func machineFor(uuid, podDir string, pid int, unit string) (machined.Machine, error) {
	name := machineName(uuid)
	switch {
	case unit == "":
		return machined.Machine{}, fmt.Errorf("%w: PID 1 is in no systemd unit", machined.ErrUnavailable)
	case unit != name+".scope" && !strings.HasSuffix(unit, ".service"):
		return machined.Machine{}, fmt.Errorf("%w: PID 1 is in %s (machinectl terminate would stop it)", errNotOwnUnit, unit)
	}
	id, err := hex.DecodeString(strings.ReplaceAll(uuid, "-", ""))
	if err != nil || len(id) != 16 {
		return machined.Machine{}, fmt.Errorf("pod UUID %q is not 128 bits", uuid)
	}
	m := machined.Machine{
		Name: name, Service: "saturn", Class: "container", Leader: pid,
		RootDirectory: filepath.Join(podDir, "stage1", "rootfs"),
	}
	copy(m.ID[:], id)
	return m, nil
}

// registered returns once registration has ended; nil waits for nothing.
func (m *podMachine) registered() <-chan struct{} {
	if m == nil {
		return nil
	}
	return m.done
}

// unregister tells machined the pod is gone, once registration ended.
func (m *podMachine) unregister() {
	<-m.done
	if m.reg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), machineTimeout)
	defer cancel()
	if err := m.reg.Unregister(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: warning: %v\n", err)
	}
}

// exited reports whether pid, a child of this process that it has not
// reaped, has exited: it is then a zombie.
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which may hold anything but
	// ends with the last ')'.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	state := strings.TrimSpace(rest)
	return state == "" || state[0] == 'Z' || state[0] == 'X'
}

// unitOf returns the systemd unit in a /proc/<pid>/cgroup (the unified
// line, or systemd's named v1 hierarchy): the first service or scope
// below the slices, "" when none.
func unitOf(procCgroup string) string {
	for _, line := range strings.Split(procCgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] != "" && parts[1] != "name=systemd" {
			continue
		}
		for _, c := range strings.Split(parts[2], "/") {
			if strings.HasSuffix(c, ".service") || strings.HasSuffix(c, ".scope") {
				return c
			}
		}
	}
	return ""
}
