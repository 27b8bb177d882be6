// Package machinedtest serves a stand-in for systemd-machined, for tests
// of what registers with it: a private dbus-daemon (a real bus) on which
// the test owns org.freedesktop.machine1 and answers RegisterMachine and
// UnregisterMachine as machined does, recording each call.
package machinedtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// Call is one method call machined received.
type Call struct {
	Method        string // RegisterMachine or UnregisterMachine
	Name          string
	ID            []byte
	Service       string
	Class         string
	Leader        uint32
	RootDirectory string
}

// Bus is a private bus daemon.
type Bus struct {
	// Address is the bus's address, for DBUS_SYSTEM_BUS_ADDRESS.
	Address string
	t       testing.TB
}

// StartBus starts a bus daemon whose socket is in dir, stopped when the
// test ends.
func StartBus(t testing.TB, dir string) *Bus {
	t.Helper()
	sock := filepath.Join(dir, "bus")
	addr := "unix:path=" + sock
	// The session configuration lets any peer own any name and talk to
	// any other, as the test needs; the socket is the test's own.
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address="+addr)
	// It complains of the fd limit it cannot raise here; its messages
	// are shown only if it does not come up.
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	for end := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if c, err := dbus.Connect(addr); err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("dbus-daemon exited at start:\n%s", log.String())
		default:
		}
		if time.Now().After(end) {
			t.Fatal("dbus-daemon does not answer")
		}
	}
	// Senders run as other users in some tests.
	os.Chmod(sock, 0o666)
	return &Bus{Address: addr, t: t}
}

// Machined answers for org.freedesktop.machine1 on a bus.
type Machined struct {
	mu       sync.Mutex
	machines map[string]bool
	calls    chan Call
	// Refuse, when set, is the error RegisterMachine answers.
	Refuse *dbus.Error
}

// Serve owns machined's name on b and answers its calls until the test
// ends.
func (b *Bus) Serve() *Machined {
	b.t.Helper()
	conn, err := dbus.Connect(b.Address)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { conn.Close() })
	m := &Machined{machines: map[string]bool{}, calls: make(chan Call, 100)}
	if err := conn.Export(manager{m}, "/org/freedesktop/machine1", "org.freedesktop.machine1.Manager"); err != nil {
		b.t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.machine1", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		b.t.Fatalf("own org.freedesktop.machine1: %v %v", reply, err)
	}
	return m
}

// Next returns the next call machined received, failing the test when
// none comes within a minute.
func (m *Machined) Next(t testing.TB) Call {
	t.Helper()
	select {
	case c := <-m.calls:
		return c
	case <-time.After(time.Minute):
		t.Fatal("machined got no call")
	}
	return Call{}
}

// Pending returns how many calls are waiting, taking them.
func (m *Machined) Pending() int {
	n := 0
	for {
		select {
		case <-m.calls:
			n++
		default:
			return n
		}
	}
}

// Machines returns the names registered now.
func (m *Machined) Machines() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for n := range m.machines {
		out = append(out, n)
	}
	return out
}

// Forget drops name, as machined does when the machine's unit goes.
func (m *Machined) Forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.machines, name)
}

// manager holds the exported methods, and only them.
type manager struct{ m *Machined }

func (g manager) RegisterMachine(name string, id []byte, service, class string, leader uint32, root string) *dbus.Error {
	m := g.m
	m.calls <- Call{Method: "RegisterMachine", Name: name, ID: id, Service: service, Class: class, Leader: leader, RootDirectory: root}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Refuse != nil {
		return m.Refuse
	}
	if m.machines[name] {
		return dbus.NewError("org.freedesktop.machine1.MachineExists", []any{fmt.Sprintf("Machine '%s' already exists", name)})
	}
	m.machines[name] = true
	return nil
}

func (g manager) UnregisterMachine(name string) *dbus.Error {
	m := g.m
	m.calls <- Call{Method: "UnregisterMachine", Name: name}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.machines[name] {
		return dbus.NewError("org.freedesktop.machine1.NoSuchMachine", []any{fmt.Sprintf("No machine '%s' known", name)})
	}
	delete(m.machines, name)
	return nil
}
