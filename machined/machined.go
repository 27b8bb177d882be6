// Package machined registers a pod with systemd-machined
// (org.freedesktop.machine1(5)) over the system bus, so that machinectl
// lists it and can stop it, and unregisters it at the end.
//
// It uses RegisterMachine, never CreateMachine: the machine is the unit
// its leader already runs in (the pod's own scope, which package cgroup
// asks systemd for), whereas CreateMachine would make a scope of its
// own and move the leader out of the pod's cgroup.
package machined

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/godbus/dbus/v5"
)

// ErrUnavailable is what Register says when there is no system bus or
// no machined on it: registration is then silently off.
var ErrUnavailable = errors.New("machined is not available")

const (
	busName    = "org.freedesktop.machine1"
	busPath    = dbus.ObjectPath("/org/freedesktop/machine1")
	manager    = "org.freedesktop.machine1.Manager"
	defaultBus = "unix:path=/run/dbus/system_bus_socket"
)

// SystemBus is the system bus's address: $DBUS_SYSTEM_BUS_ADDRESS, as
// sd-bus and libdbus read it, else the standard socket.
func SystemBus() string {
	if a := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"); a != "" {
		return a
	}
	return defaultBus
}

// Machine is what machined is told of a pod.
type Machine struct {
	// Name is the machine's name (a valid host name).
	Name string
	// ID is the machine's 128-bit id: the pod's UUID.
	ID [16]byte
	// Service names the registering program; Class is "container".
	Service, Class string
	// Leader is the host pid of the machine's first process.
	Leader int
	// RootDirectory is the machine's root on the host, "" if none.
	RootDirectory string
}

// Registration is a registered machine.
type Registration struct {
	address, name string
}

// Register connects to the bus at address and registers m. An error
// wrapping ErrUnavailable means there is nobody to register with. The
// connection is closed again: the machine lives as long as its unit,
// not as the connection.
func Register(ctx context.Context, address string, m Machine) (*Registration, error) {
	// WithContext ties the connection to ctx: it is closed when ctx
	// ends, which bounds the dial, authentication and call alike.
	conn, err := dbus.Connect(address, dbus.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: system bus %s: %v", ErrUnavailable, address, err)
	}
	defer conn.Close()
	err = conn.Object(busName, busPath).CallWithContext(ctx, manager+".RegisterMachine", 0,
		m.Name, m.ID[:], m.Service, m.Class, uint32(m.Leader), m.RootDirectory).Err
	if err != nil {
		if noMachined(err) {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("machined: register %s: %w", m.Name, err)
	}
	return &Registration{address: address, name: m.Name}, nil
}

// noMachined tells the bus's "nobody has that name" (machined is not
// installed, or not activatable) from machined's own refusals.
func noMachined(err error) bool {
	switch errName(err) {
	case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
		return true
	}
	return false
}

// errName is the D-Bus error name of err, "" if it is none; godbus
// returns error replies as values and its own errors as pointers.
func errName(err error) string {
	var v dbus.Error
	if errors.As(err, &v) {
		return v.Name
	}
	var p *dbus.Error
	if errors.As(err, &p) {
		return p.Name
	}
	return ""
}

// Unregister tells machined the machine is gone (its processes are left
// alone, unlike TerminateMachine's). A machine machined already dropped,
// because its unit went away, is no error.
func (r *Registration) Unregister(ctx context.Context) error {
	conn, err := dbus.Connect(r.address, dbus.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("machined: unregister %s: system bus %s: %w", r.name, r.address, err)
	}
	defer conn.Close()
	err = conn.Object(busName, busPath).CallWithContext(ctx, manager+".UnregisterMachine", 0, r.name).Err
	if errName(err) == "org.freedesktop.machine1.NoSuchMachine" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("machined: unregister %s: %w", r.name, err)
	}
	return nil
}
