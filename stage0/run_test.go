package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/pod"
)

func TestStage1RunArgs(t *testing.T) {
	rt := &pod.RuntimeOptions{Net: []string{"none"}, Interactive: true, Hostname: "box", IPC: "private", DNS: []string{"1.1.1.1"}}
	g := &globals{Debug: true, LocalConfig: "/etc/saturn", Insecure: insecureOptions{Capabilities: true, Seccomp: true}}
	tests := []struct {
		version int
		want    string
	}{
		{1, "--debug --net=none --interactive --local-config=/etc/saturn --ipc=private U"},
		{2, "--debug --net=none --interactive --local-config=/etc/saturn --hostname=box --ipc=private U"},
		{3, "--debug --net=none --interactive --local-config=/etc/saturn --hostname=box --disable-capabilities-restriction --disable-seccomp --ipc=private U"},
		{4, "--debug --net=none --interactive --local-config=/etc/saturn --hostname=box --disable-capabilities-restriction --disable-seccomp --dns-conf-mode=resolv=stage0,hosts=default --ipc=private U"},
	}
	for _, tt := range tests {
		if got := strings.Join(stage1RunFlags(g, "U", rt).Args(tt.version), " "); got != tt.want {
			t.Errorf("version %d:\n got %s\nwant %s", tt.version, got, tt.want)
		}
	}
	plain := &pod.RuntimeOptions{Net: []string{"default"}, IPC: "auto"}
	got := strings.Join(stage1RunFlags(&globals{LocalConfig: "/c"}, "U", plain).Args(4), " ")
	if want := "--net=default --local-config=/c --dns-conf-mode=resolv=default,hosts=default U"; got != want {
		t.Errorf("defaults:\n got %s\nwant %s", got, want)
	}
}

func TestParsePodArgsGlobalFlags(t *testing.T) {
	var out bytes.Buffer
	g := newGlobals(&out, &out)
	g.Dir = "/before"
	g.LocalConfig = t.TempDir()
	g.SystemConfig = t.TempDir()
	pa, err := parsePodArgs(g, "run", []string{"--insecure-options=image,seccomp", "--debug", "--stage1-path=/s1.aci", "--net=host", "img", "--name=x"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if g.Dir != "/before" || !g.Debug || !g.Insecure.Image || !g.Insecure.Seccomp {
		t.Errorf("globals after run flags: dir %q debug %t insecure %+v", g.Dir, g.Debug, g.Insecure)
	}
	if pa.stage1.Path != "/s1.aci" || pa.rt.NetMode() != "host" || pa.prep.Apps.Apps[0].Name != "x" {
		t.Errorf("parsed = %+v", pa)
	}

	if _, err := parsePodArgs(g, "run", []string{"--help"}, true); !errors.Is(err, errHelpShown) || !strings.Contains(out.String(), "--stage1-path") {
		t.Errorf("--help: %v\n%s", err, out.String())
	}
	var ue *usageError
	for _, args := range [][]string{{"--insecure-options=bogus", "img"}, {"--interactive", "a", "b"}, {"--private-users", "a"}} {
		if _, err := parsePodArgs(g, "run", args, true); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	// prepare has no runtime flags.
	if _, err := parsePodArgs(g, "prepare", []string{"--net=host", "a"}, false); err == nil {
		t.Error("prepare accepted --net")
	}
}

func TestParseWait(t *testing.T) {
	tests := map[string]time.Duration{"true": -1, "false": 0, "1": -1, "0": 0, "10s": 10 * time.Second, "1m30s": 90 * time.Second}
	for in, want := range tests {
		if got, err := parseWait("wait", in); err != nil || got != want {
			t.Errorf("parseWait(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWait("wait", "soon"); err == nil {
		t.Error("parseWait accepted soon")
	}
}

func TestPodUUIDArgs(t *testing.T) {
	if _, err := podUUIDArgs(nil, ""); err == nil {
		t.Error("no UUID accepted")
	}
	if _, err := podUUIDArgs([]string{"a"}, "/f"); err == nil {
		t.Error("UUID and --uuid-file accepted together")
	}
	if got, err := podUUIDArgs([]string{"a", "b"}, ""); err != nil || len(got) != 2 {
		t.Errorf("two UUIDs: %q, %v", got, err)
	}
	if _, err := podArg([]string{"a", "b"}, ""); err == nil {
		t.Error("podArg accepted two UUIDs")
	}
}
