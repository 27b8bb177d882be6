package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEnterRefusesCallersInsideThePod: a caller that shares the
// supervisor's PID namespace (as an app of the pod does) is refused; the
// host's enter entrypoint, outside that namespace, is what the functional
// enter tests exercise.
func TestEnterRefusesCallersInsideThePod(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "enter.sock")
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	err = checkEnterPeer(server)
	if err == nil || !strings.Contains(err.Error(), "inside the pod") {
		t.Fatalf("checkEnterPeer of a same-namespace caller: %v, want a refusal", err)
	}
}

// TestEnterRefusesAServerOtherThanPID1: the enter entrypoint sends its
// request, and its stdio, only to a socket the pod's PID 1 listens on. An
// app root that escaped its chroot could replace the socket with its own.
func TestEnterRefusesAServerOtherThanPID1(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "stage1/rootfs", filepath.Dir(enterSocket)), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: filepath.Join(dir, "stage1/rootfs", enterSocket), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Chdir(dir)
	// This process listens: it is PID 1 only if the caller says so.
	_, err = requestEnter("app", []string{"/bin/true"}, os.Getpid()+1)
	if err == nil || !strings.Contains(err.Error(), "not by the pod's PID 1") {
		t.Fatalf("enter through a socket another process serves: %v, want a refusal", err)
	}
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	server.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := server.Read(make([]byte, 4096)); n != 0 {
		t.Errorf("the refused server still got %d bytes (%v)", n, err)
	}
	client, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: filepath.Join(dir, "stage1/rootfs", enterSocket), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := checkEnterServer(client, os.Getpid()); err != nil {
		t.Errorf("the pod's PID 1 refused: %v", err)
	}
}
