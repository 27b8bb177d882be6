package main

import (
	"errors"
	"testing"

	"github.com/saturn-pods/saturn/machined"
)

func TestMachineFor(t *testing.T) {
	const uuid = "0a1b2c3d-0000-4000-8000-00000000beef"
	for unit, want := range map[string]error{
		"saturn-" + uuid + ".scope": nil,
		"web.service":               nil,
		"":                          machined.ErrUnavailable,
		"session-2.scope":           errNotOwnUnit,
		"saturn-0a1b2c3d-0000-4000-8000-000000000000.scope": errNotOwnUnit,
	} {
		m, err := machineFor(uuid, "/var/lib/saturn/pods/run/"+uuid, 77, unit)
		if want != nil {
			if !errors.Is(err, want) {
				t.Errorf("unit %q: %v, want %v", unit, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("unit %q: %v", unit, err)
			continue
		}
		wantID := [16]byte{0x0a, 0x1b, 0x2c, 0x3d, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0xbe, 0xef}
		if m.Name != "saturn-"+uuid || m.ID != wantID || m.Leader != 77 || m.Class != "container" || m.Service != "saturn" ||
			m.RootDirectory != "/var/lib/saturn/pods/run/"+uuid+"/stage1/rootfs" {
			t.Errorf("unit %q: machine %+v", unit, m)
		}
	}
}

func TestUnitOf(t *testing.T) {
	for in, want := range map[string]string{
		"0::/machine.slice/saturn-x.scope/stage1\n":                       "saturn-x.scope",
		"0::/system.slice/web.service\n":                                  "web.service",
		"1:name=systemd:/user.slice/user-0.slice/session-3.scope\n0::/\n": "session-3.scope",
		"4:memory:/system.slice/db.service\n0::/\n":                       "",
		"0::/machine.slice/saturn-x/stage1\n":                             "",
	} {
		if got := unitOf(in); got != want {
			t.Errorf("unitOf(%q) = %q, want %q", in, got, want)
		}
	}
}
