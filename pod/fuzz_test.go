package pod

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// FuzzLoadManifest loads arbitrary bytes as a --pod-manifest. What it
// accepts must have uniquely named apps with image ids, must marshal, and
// must read back through the schema to the same manifest.
func FuzzLoadManifest(f *testing.F) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "pod-manifest")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		imgs := fakeImages{fakeID(1): imageManifest(t, "example.com/busybox", busyApp)}
		pm, err := LoadManifest(p, imgs, nil)
		if err != nil {
			return
		}
		if len(pm.Apps) == 0 {
			t.Fatal("accepted a manifest without apps")
		}
		seen := map[types.ACName]bool{}
		for _, ra := range pm.Apps {
			if seen[ra.Name] || ra.Image.ID.Empty() {
				t.Fatalf("accepted app %q: duplicate name or no image id", ra.Name)
			}
			seen[ra.Name] = true
		}
		b, err := json.Marshal(pm)
		if err != nil {
			t.Fatalf("accepted manifest does not marshal: %v", err)
		}
		var back schema.PodManifest
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("accepted manifest does not re-validate: %v\n%s", err, b)
		}
		b2, err := json.Marshal(&back)
		if err != nil {
			t.Fatalf("re-read manifest does not marshal: %v", err)
		}
		if string(b) != string(b2) {
			t.Fatalf("manifest changes on a round trip:\n%s\n%s", b, b2)
		}
	})
}

// FuzzParseMount parses arbitrary --mount values. An accepted mount has a
// valid volume name and a target that is not the root (relative targets
// are taken from the app's root), and prints back (escaped) to the same
// mount.
func FuzzParseMount(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMount(s)
		if err != nil {
			return
		}
		if _, err := types.NewACName(m.Volume.String()); err != nil {
			t.Fatalf("parseMount(%q) accepted volume %q", s, m.Volume)
		}
		if m.Path == "" || path.Clean("/"+m.Path) == "/" {
			t.Fatalf("parseMount(%q) accepted target %q", s, m.Path)
		}
		again := "volume=" + url.QueryEscape(m.Volume.String()) + ",target=" + url.QueryEscape(m.Path)
		back, err := parseMount(again)
		if err != nil || back != m {
			t.Fatalf("parseMount(%q) = %+v; printed as %q it gives %+v, %v", s, m, again, back, err)
		}
	})
}

// FuzzVolumeFlag parses arbitrary --volume values. An accepted volume
// passes CheckVolume, and its string form parses to the same volume.
func FuzzVolumeFlag(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		var as Apps
		if err := (volumeFlag{&as}).Set(s); err != nil {
			return
		}
		if len(as.Volumes) != 1 {
			t.Fatalf("--volume %q added %d volumes", s, len(as.Volumes))
		}
		v := as.Volumes[0]
		if err := CheckVolume(v); err != nil {
			t.Fatalf("--volume %q accepted a volume CheckVolume refuses: %v", s, err)
		}
		back, err := types.VolumeFromString(v.String())
		if err != nil {
			t.Fatalf("--volume %q prints as %q, which does not parse: %v", s, v.String(), err)
		}
		if !reflect.DeepEqual(*back, v) {
			t.Fatalf("--volume %q: %+v prints as %q, which parses to %+v", s, v, v.String(), *back)
		}
		if err := (volumeFlag{&as}).Set(s); err == nil {
			t.Fatalf("--volume %q accepted twice", s)
		}
	})
}

// FuzzPortFlag parses arbitrary --port values. An accepted port has a
// valid name and a non-zero host port, and prints back to the same port.
func FuzzPortFlag(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		var ports []types.ExposedPort
		if err := (portsFlag{&ports}).Set(s); err != nil {
			return
		}
		if len(ports) != 1 {
			t.Fatalf("--port %q added %d ports", s, len(ports))
		}
		p := ports[0]
		if _, err := types.NewACName(p.Name.String()); err != nil || p.HostPort == 0 || p.HostPort > 65535 {
			t.Fatalf("--port %q accepted %+v", s, p)
		}
		again := p.Name.String() + ":"
		if p.HostIP != nil {
			again += p.HostIP.String() + ":"
		}
		again += strconv.FormatUint(uint64(p.HostPort), 10)
		var back []types.ExposedPort
		if err := (portsFlag{&back}).Set(again); err != nil {
			if p.HostIP.To4() == nil && p.HostIP != nil && net.ParseIP(p.HostIP.String()) != nil {
				return // an IPv6 address cannot be written back in this colon syntax
			}
			t.Fatalf("--port %q prints as %q, which is refused: %v", s, again, err)
		}
		if back[0].Name != p.Name || back[0].HostPort != p.HostPort || !back[0].HostIP.Equal(p.HostIP) {
			t.Fatalf("--port %q = %+v; printed as %q it gives %+v", s, p, again, back[0])
		}
	})
}
