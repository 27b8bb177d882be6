package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckACName(t *testing.T) {
	for _, ok := range []string{"a", "web", "app-1", "0-9-z"} {
		if err := checkACName(ok); err != nil {
			t.Errorf("checkACName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "a--b", "A", "a/b", "..", "../x", "a_b", "a b", "é"} {
		if err := checkACName(bad); err == nil {
			t.Errorf("checkACName(%q) = nil, want an error", bad)
		}
	}
}

func TestValidEnvName(t *testing.T) {
	for _, ok := range []string{"A", "_x", "PATH", "a.b-c9"} {
		if !validEnvName(ok) {
			t.Errorf("validEnvName(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "9A", "-a", "A=B", "A B", ".a"} {
		if validEnvName(bad) {
			t.Errorf("validEnvName(%q) = true", bad)
		}
	}
}

// readTestManifest writes manifest as a pod manifest and reads it back.
func readTestManifest(t *testing.T, manifest string) (*podManifest, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pod")
	if err := os.WriteFile(p, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return readPodManifest(p)
}

func TestReadPodManifest(t *testing.T) {
	pm, err := readTestManifest(t, `{"acKind":"PodManifest","acVersion":"0.8.11",
		"apps":[{"name":"web","image":{"id":"sha512-x"},"app":{"exec":["/bin/true"],"user":"0","group":"0",
			"environment":[{"name":"A","value":"1"}],
			"isolators":[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_KILL"]}},
				{"name":"os/linux/oom-score-adj","value":5},{"name":"resource/memory","value":{"limit":"1G"}}]},
			"mounts":[{"volume":"data","path":"/data"}]}],
		"volumes":[{"name":"data","kind":"empty"},{"name":"logs","kind":"host","source":"/var/log","readOnly":true}]}`)
	if err != nil {
		t.Fatal(err)
	}
	v := pm.Volumes[0]
	if *v.Mode != "0755" || *v.UID != 0 || *v.GID != 0 {
		t.Errorf("empty volume defaults: mode %s uid %d gid %d, want 0755 0 0", *v.Mode, *v.UID, *v.GID)
	}
	la, err := pm.Apps[0].App.launchApp()
	if err != nil {
		t.Fatal(err)
	}
	if len(la.Isolators) != 2 || la.Isolators[0].Caps[0] != "CAP_KILL" || la.Isolators[1].Adj != 5 {
		t.Errorf("isolators %+v, want the retain set and oom-score-adj 5 only", la.Isolators)
	}
	if len(la.Environment) != 1 || la.Environment[0].Name != "A" || la.Environment[0].Value != "1" {
		t.Errorf("environment %+v", la.Environment)
	}
}

func TestReadPodManifestRefusals(t *testing.T) {
	app := func(name, body string) string {
		return `{"acKind":"PodManifest","apps":[{"name":"` + name + `","app":{"exec":["/x"],"user":"0","group":"0"` + body + `}}]}`
	}
	tests := []struct{ manifest, want string }{
		{`{"acKind":"ImageManifest","apps":[]}`, `acKind must be "PodManifest"`},
		{`{"acKind":"PodManifest","apps":[{"name":"../../etc"}]}`, `"../../etc" is not a valid AC name`},
		{`{"acKind":"PodManifest","apps":[{"name":"a"},{"name":"a"}]}`, `duplicate app name "a"`},
		{`{"acKind":"PodManifest","apps":[],"volumes":[{"name":"v","kind":"nfs"}]}`, "unrecognized volume kind"},
		{`{"acKind":"PodManifest","apps":[],"volumes":[{"name":"../v","kind":"empty"}]}`, "not a valid AC name"},
		{`{"acKind":"PodManifest","apps":[],"volumes":[{"name":"v","kind":"host","source":"rel"}]}`, "must be absolute path"},
		{`{"acKind":"PodManifest","apps":[],"volumes":[{"name":"v","kind":"host","source":"/x","uid":1}]}`, "cannot be set for a host volume"},
		{`{"acKind":"PodManifest","apps":[],"volumes":[{"name":"v","kind":"empty","mode":"rwx"}]}`, `mode "rwx" is not octal`},
		{`{"acKind":"PodManifest","apps":[],"volumes":[{"name":"v","kind":"empty"},{"name":"v","kind":"empty"}]}`, `duplicate volume name "v"`},
		{`{"acKind":"PodManifest","apps":[],"volumes":[{"name":"v","kind":"empty","uid":-1}]}`, "volume v: uid -1 out of range"},
		{`{"acKind":"PodManifest","apps":[],"volumes":[{"name":"v","kind":"empty","gid":-5}]}`, "volume v: gid -5 out of range"},
		{`{"acKind":"PodManifest","apps":[],"volumes":[{"name":"v","kind":"empty","uid":4294967296}]}`, "volume v: uid 4294967296 out of range"},
		{`{"acKind":"PodManifest","apps":[{"name":"a","mounts":[{"volume":"v","path":"/v","appVolume":{"name":"v","kind":"empty","gid":-1}}]}]}`, "volume v: gid -1 out of range"},
		{`{"acKind":"PodManifest","apps":[{"name":"a","mounts":[{"volume":"../x","path":"/x"}]}]}`, "not a valid AC name"},
		{app("a", `,"user":""`), "user is required"},
		{app("a", `,"workingDirectory":"rel"`), "workingDirectory must be an absolute path"},
		{app("a", `,"environment":[{"name":"A=B","value":""}]`), `valid identifier "A=B"`},
		{app("a", `,"environment":[{"name":"A","value":""},{"name":"A","value":""}]`), `duplicate environment variable of name "A"`},
		{app("a", `,"eventHandlers":[{"name":"pre-start","exec":["/x"]},{"name":"pre-start","exec":["/y"]}]`), `eventHandler of name "pre-start"`},
		{app("a", `,"isolators":[{"name":"os/linux/oom-score-adj","value":1001}]`), "between -1000 and 1000"},
		{app("a", `,"isolators":[{"name":"os/linux/capabilities-remove-set","value":{"set":[]}}]`), "set must be non-empty"},
		{app("a", `,"isolators":[{"name":"os/linux/no-new-privileges","value":"yes"}]`), "no-new-privileges"},
		{app("a", `,"exec":["/bin/sh","-c","true\u0000; rm -rf /"]`), `exec argument "true\x00; rm -rf /" contains a NUL byte`},
		{app("a", `,"environment":[{"name":"A","value":"x\u0000y"}]`), "environment variable A"},
		{app("a", `,"workingDirectory":"/x\u0000"`), "workingDirectory"},
		{app("a", `,"eventHandlers":[{"name":"pre-start","exec":["/x\u0000"]}]`), "pre-start handler argument"},
		{app("a", `,"mountPoints":[{"name":"m","path":"/m\u0000"}]`), "mount point m path"},
		{`{"acKind":"PodManifest","apps":[{"name":"a","mounts":[{"volume":"v","path":"/v\u0000"}]}]}`, "mount path"},
		{`{"acKind":"PodManifest","apps":[],"volumes":[{"name":"v","kind":"host","source":"/x\u0000"}]}`, "volume v: source"},
		{`{"acKind":"PodManifest",`, "pod manifest:"},
	}
	for _, tc := range tests {
		_, err := readTestManifest(t, tc.manifest)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.manifest, err, tc.want)
		}
	}
}
