package main

import (
	"reflect"
	"testing"

	"github.com/saturn-pods/saturn/seccomp"
	"github.com/saturn-pods/saturn/stage2/launch"
	"github.com/saturn-pods/saturn/testsupport"
)

func testPlan() *podPlan {
	adj := -500
	return &podPlan{logUnit: "web.service", cgroupPath: "/machine.slice/saturn-x.scope", apps: []*appPlan{
		{
			name: "web", rel: "opt/stage2/web", nullStderr: true, notify: true, listen: []int{0, 2}, listenNames: "http:unknown",
			readOnlyRootFS: true, workingDirectory: "/srv",
			eventHandlers: []eventHandler{{Name: "pre-start", Exec: []string{"/bin/sh", "-c", "echo ü"}}, {Name: "post-stop", Exec: []string{}}},
			stdio:         []string{"null", "log", "tty"},
			spec: &launch.Spec{
				Root: "/opt/stage2/web/rootfs", Dir: "/srv", Args: []string{"/bin/httpd", "", "-f"},
				Env: []string{"PATH=/bin", "A=b=c"}, UID: 4294967294, GID: 33, Groups: []uint32{1, 65534},
				Bounding: []launch.Cap{0, 21, 40}, Ambient: []launch.Cap{21}, NoNewPrivs: true,
				Rlimits:     []launch.Rlimit{{Resource: 7, Soft: 1024, Hard: ^uint64(0)}},
				OOMScoreAdj: &adj,
				Seccomp:     &seccomp.Filter{Mode: seccomp.Remove, Syscalls: []uint32{0, 161, 4294967295}, Errno: 95},
			},
			mounts: []mountPlan{
				{volume: "data", target: "/data", kind: "empty", recursive: true, mode: 0o750, uid: 1000, gid: 0},
				{volume: "logs", target: "/var/log", kind: "host", source: "/var/log", readOnly: true},
			},
		},
		{
			// --disable-capabilities-restriction: a nil bounding set keeps
			// every capability, an empty one would drop them all.
			name: "all-caps", rel: "opt/stage2/all-caps", nullStdout: true,
			spec: &launch.Spec{Root: "/opt/stage2/all-caps/rootfs", Args: []string{"/x"}, Env: []string{}, Bounding: nil, Ambient: []launch.Cap{}},
		},
	}}
}

func TestPlanRoundTrip(t *testing.T) {
	want := testPlan()
	got, err := decodePlan(encodePlan(want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", got, want)
	}
	if got.apps[1].spec.Bounding != nil || got.apps[1].spec.Ambient == nil {
		t.Error("a nil capability set is not kept apart from an empty one")
	}
}

// notCarried are the fields of the plan that do not travel to PID 1,
// each for a reason its type says (config.go, launch.Spec): the run
// entrypoint's alone, or set by PID 1 when it starts a process. Any
// other field must survive the plan memfd: a field added to the plan's
// types but not to planwire.go fails TestPlanCarriesEveryField.
var notCarried = []string{
	"manifest", "sockets", "journal", "resources", "cgroupParent",
	"apps[0].ports", "apps[0].isolators", "apps[0].resources", "apps[0].ns", "apps[0].cgroup",
	"apps[1].ports", "apps[1].isolators", "apps[1].resources", "apps[1].ns", "apps[1].cgroup",
	"apps[0].spec.MountNS", "apps[0].spec.NewSessionKeyring", "apps[0].spec.Listen", "apps[0].spec.ListenFDs", "apps[0].spec.Ctty", "apps[0].spec.Cgroup",
	"apps[1].spec.MountNS", "apps[1].spec.NewSessionKeyring", "apps[1].spec.Listen", "apps[1].spec.ListenFDs", "apps[1].spec.Ctty", "apps[1].spec.Cgroup",
}

// Every field of the plan, filled by reflection, survives the plan
// memfd but those notCarried lists.
func TestPlanCarriesEveryField(t *testing.T) {
	var want podPlan
	testsupport.Fill(&want, notCarried...)
	if z := testsupport.ZeroFields(&want, notCarried...); len(z) != 0 {
		t.Fatalf("Fill left %v zero", z)
	}
	got, err := decodePlan(encodePlan(&want))
	if err != nil {
		t.Fatal(err)
	}
	if z := testsupport.ZeroFields(got, notCarried...); len(z) != 0 {
		t.Errorf("fields lost on the way to PID 1: %v (carry them in planwire.go, or list them in notCarried with the reason)", z)
	}
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", got, &want)
	}
}

// A damaged plan is an error, never a panic or a plan with holes.
func TestPlanDecodeRefusesDamage(t *testing.T) {
	b := encodePlan(testPlan())
	for n := 0; n < len(b); n++ {
		if _, err := decodePlan(b[:n]); err == nil {
			t.Errorf("plan cut to %d of %d bytes decoded without error", n, len(b))
		}
	}
	if _, err := decodePlan(append(b, 0)); err == nil {
		t.Error("plan with a trailing byte decoded without error")
	}
	for _, bad := range [][]byte{{0x7f}, {0x02, 0x7f}, {0x02, 0x03}, {0x01, 0x01}} {
		if _, err := decodePlan(bad); err == nil {
			t.Errorf("decodePlan(%x) = nil error", bad)
		}
	}
}
