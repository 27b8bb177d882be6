package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
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
