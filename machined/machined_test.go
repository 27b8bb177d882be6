package machined_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/saturn-pods/saturn/machined"
	"github.com/saturn-pods/saturn/machined/machinedtest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

var pod = machined.Machine{
	Name: "saturn-0a1b2c3d-0000-4000-8000-00000000beef", ID: [16]byte{0x0a, 0x1b, 0x2c, 0x3d, 15: 0xef},
	Service: "saturn", Class: "container", Leader: 4242, RootDirectory: "/var/lib/saturn/pods/run/x/stage1/rootfs",
}

func TestRegisterUnregister(t *testing.T) {
	bus := machinedtest.StartBus(t, t.TempDir())
	md := bus.Serve()
	reg, err := machined.Register(ctx(t), bus.Address, pod)
	if err != nil {
		t.Fatal(err)
	}
	want := machinedtest.Call{Method: "RegisterMachine", Name: pod.Name, ID: pod.ID[:], Service: "saturn", Class: "container", Leader: 4242, RootDirectory: pod.RootDirectory}
	if got := md.Next(t); !reflect.DeepEqual(got, want) {
		t.Errorf("machined got %+v, want %+v", got, want)
	}
	if got := md.Machines(); len(got) != 1 || got[0] != pod.Name {
		t.Errorf("machines %v", got)
	}
	if err := reg.Unregister(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := md.Next(t); got.Method != "UnregisterMachine" || got.Name != pod.Name {
		t.Errorf("machined got %+v, want UnregisterMachine", got)
	}
	if got := md.Machines(); len(got) != 0 {
		t.Errorf("machines after unregister %v", got)
	}
}

// A machine machined dropped already (its unit went away) unregisters
// without an error; a name registered twice is machined's refusal.
func TestUnregisterGone(t *testing.T) {
	bus := machinedtest.StartBus(t, t.TempDir())
	md := bus.Serve()
	reg, err := machined.Register(ctx(t), bus.Address, pod)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := machined.Register(ctx(t), bus.Address, pod); err == nil || errors.Is(err, machined.ErrUnavailable) {
		t.Errorf("second registration of %s: %v, want machined's refusal", pod.Name, err)
	}
	md.Forget(pod.Name)
	if err := reg.Unregister(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestUnavailable(t *testing.T) {
	_, err := machined.Register(ctx(t), "unix:path="+filepath.Join(t.TempDir(), "none"), pod)
	if !errors.Is(err, machined.ErrUnavailable) {
		t.Errorf("no bus: %v, want ErrUnavailable", err)
	}
	bus := machinedtest.StartBus(t, t.TempDir())
	_, err = machined.Register(ctx(t), bus.Address, pod)
	if !errors.Is(err, machined.ErrUnavailable) {
		t.Errorf("a bus without machined: %v, want ErrUnavailable", err)
	}
}

// machined's own refusals are errors, not "unavailable".
func TestRefused(t *testing.T) {
	bus := machinedtest.StartBus(t, t.TempDir())
	md := bus.Serve()
	md.Refuse = dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"no"})
	_, err := machined.Register(ctx(t), bus.Address, pod)
	if err == nil || errors.Is(err, machined.ErrUnavailable) {
		t.Errorf("refused registration: %v, want an error other than ErrUnavailable", err)
	}
}

// The registration outlives the context and connection that made it: the
// pod unregisters long after it registered.
func TestUnregisterAfterRegisterContextEnded(t *testing.T) {
	bus := machinedtest.StartBus(t, t.TempDir())
	md := bus.Serve()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	reg, err := machined.Register(c, bus.Address, pod)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	md.Next(t)
	if err := reg.Unregister(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := md.Next(t); got.Method != "UnregisterMachine" {
		t.Errorf("machined got %+v", got)
	}
}
