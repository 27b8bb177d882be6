package main

import (
	"bytes"
	"encoding/json"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/stage2/launch"
)

// Seeds live in testdata/fuzz/<Name>/: the manifests of manifest_test.go,
// a pod manifest and an image manifest as stage0 writes them (saturn
// prepare), and plans encodePlan wrote.

// FuzzPodManifest feeds the same bytes to both manifest decoders: they
// never panic, and whatever they accept is what the rest of stage1
// relies on (names safe as path components, empty volumes with their
// defaults, apps launch can take).
func FuzzPodManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if pm, err := parsePodManifest(b); err == nil {
			checkAcceptedPod(t, pm)
		}
		if im, err := parseImageManifest(b); err == nil && im.App != nil {
			checkAcceptedApp(t, "image", im.App)
		}
	})
}

func checkAcceptedPod(t *testing.T, pm *podManifest) {
	t.Helper()
	if pm.ACKind != podManifestKind {
		t.Errorf("accepted acKind %q", pm.ACKind)
	}
	for i := range pm.Volumes {
		checkAcceptedVolume(t, &pm.Volumes[i])
	}
	names := map[string]bool{}
	for _, ra := range pm.Apps {
		checkPathName(t, "app", ra.Name)
		if names[ra.Name] {
			t.Errorf("accepted duplicate app %q", ra.Name)
		}
		names[ra.Name] = true
		for _, m := range ra.Mounts {
			checkPathName(t, "mount volume", m.Volume)
			if strings.IndexByte(m.Path, 0) >= 0 {
				t.Errorf("app %s: accepted mount path %q", ra.Name, m.Path)
			}
			if m.AppVolume != nil {
				checkAcceptedVolume(t, m.AppVolume)
			}
		}
		if ra.App != nil {
			checkAcceptedApp(t, ra.Name, ra.App)
		}
	}
}

// checkPathName fails unless name can be joined to a directory as one
// component of it: app and volume names become directories.
func checkPathName(t *testing.T, what, name string) {
	t.Helper()
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") ||
		filepath.Join("/base", name) != "/base/"+name {
		t.Errorf("accepted %s name %q, not a safe path component", what, name)
	}
}

func checkAcceptedVolume(t *testing.T, v *volume) {
	t.Helper()
	checkPathName(t, "volume", v.Name)
	if strings.IndexByte(v.Source, 0) >= 0 {
		t.Errorf("volume %q: accepted source %q", v.Name, v.Source)
	}
	switch v.Kind {
	case "empty":
		if v.Mode == nil || v.UID == nil || v.GID == nil {
			t.Fatalf("empty volume %q without its defaults: %+v", v.Name, v)
		}
		if _, err := strconv.ParseUint(*v.Mode, 8, 32); err != nil {
			t.Errorf("empty volume %q: accepted mode %q", v.Name, *v.Mode)
		}
		if !launch.ValidID(*v.UID) || !launch.ValidID(*v.GID) {
			t.Errorf("empty volume %q: accepted owner %d:%d", v.Name, *v.UID, *v.GID)
		}
		if v.Source != "" {
			t.Errorf("empty volume %q: accepted source %q", v.Name, v.Source)
		}
	case "host":
		if !path.IsAbs(v.Source) || v.Mode != nil || v.UID != nil || v.GID != nil {
			t.Errorf("accepted host volume %+v", v)
		}
	default:
		t.Errorf("accepted volume kind %q", v.Kind)
	}
}

func checkAcceptedApp(t *testing.T, name string, a *app) {
	t.Helper()
	if a.User == "" || a.Group == "" {
		t.Errorf("app %s: accepted user %q group %q", name, a.User, a.Group)
	}
	if a.WorkingDirectory != "" && !path.IsAbs(a.WorkingDirectory) {
		t.Errorf("app %s: accepted working directory %q", name, a.WorkingDirectory)
	}
	for _, e := range a.Environment {
		if !validEnvName(e.Name) || strings.Contains(e.Name, "=") {
			t.Errorf("app %s: accepted variable name %q", name, e.Name)
		}
	}
	for _, mp := range a.MountPoints {
		checkPathName(t, "mount point", mp.Name)
	}
	// Every string of the app reaches a system call; isolators are
	// decoded further by launch, which refuses what it cannot parse.
	noIso := *a
	noIso.Isolators = nil
	if b, err := json.Marshal(&noIso); err != nil || bytes.Contains(b, []byte(`\u0000`)) {
		t.Errorf("app %s: accepted a NUL byte: %s", name, b)
	}
	if _, err := a.launchApp(); err != nil {
		t.Errorf("app %s: accepted, but launch cannot take it: %v", name, err)
	}
}

// FuzzDecodePlan: arbitrary bytes decode to an error or a plan, never a
// panic, and a plan decoded is encoded and decoded again to the same
// plan (and the same bytes: the encoding of a plan is canonical).
func FuzzDecodePlan(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePlan(b)
		if err != nil {
			return
		}
		enc := encodePlan(p)
		p2, err := decodePlan(enc)
		if err != nil {
			t.Fatalf("re-encoded plan does not decode: %v", err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Errorf("plan changed in a round trip:\n%+v\n%+v", p, p2)
		}
		if enc2 := encodePlan(p2); !bytes.Equal(enc, enc2) {
			t.Errorf("plan encodes differently after a round trip")
		}
	})
}
