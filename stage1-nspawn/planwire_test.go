package main

import (
	"reflect"
	"testing"

	"github.com/saturn-pods/saturn/seccomp"
	"github.com/saturn-pods/saturn/stage2/launch"
)

func testPlan() *podPlan {
	mode, uid, gid, adj := "0750", 1000, 0, -500
	ro := true
	return &podPlan{apps: []*appPlan{
		{
			name: "web", rel: "opt/stage2/web", nullStderr: true, notify: true, listen: []int{0, 2}, listenNames: "http:unknown",
			ra:  &runtimeApp{Name: "web", ReadOnlyRootFS: true},
			app: &app{WorkingDirectory: "/srv", EventHandlers: []eventHandler{{Name: "pre-start", Exec: []string{"/bin/sh", "-c", "echo ü"}}, {Name: "post-stop", Exec: []string{}}}},
			spec: &launch.Spec{
				Root: "/opt/stage2/web/rootfs", Dir: "/srv", Args: []string{"/bin/httpd", "", "-f"},
				Env: []string{"PATH=/bin", "A=b=c"}, UID: 4294967294, GID: 33, Groups: []uint32{1, 65534},
				Bounding: []launch.Cap{0, 21, 40}, Ambient: []launch.Cap{21}, NoNewPrivs: true,
				Rlimits:     []launch.Rlimit{{Resource: 7, Soft: 1024, Hard: ^uint64(0)}},
				OOMScoreAdj: &adj,
				Seccomp:     &seccomp.Filter{Mode: seccomp.Remove, Syscalls: []uint32{0, 161, 4294967295}, Errno: 95},
			},
			mounts: []mountPlan{
				{volume: "data", target: "/data", kind: "empty", readOnly: false, recursive: true,
					vol: volume{Name: "data", Kind: "empty", Mode: &mode, UID: &uid, GID: &gid}},
				{volume: "logs", target: "/var/log", kind: "host", source: "/var/log", readOnly: true, recursive: false,
					vol: volume{Name: "logs", Kind: "host", Source: "/var/log", ReadOnly: &ro}},
			},
		},
		{
			// --disable-capabilities-restriction: a nil bounding set keeps
			// every capability, an empty one would drop them all.
			name: "all-caps", rel: "opt/stage2/all-caps", nullStdout: true,
			ra:   &runtimeApp{Name: "all-caps"},
			app:  &app{},
			spec: &launch.Spec{Root: "/opt/stage2/all-caps/rootfs", Args: []string{"/x"}, Env: []string{}, Bounding: nil, Ambient: []launch.Cap{}},
		},
	}, cgroupPath: "/machine.slice/saturn-0b2c1f06-2c8e-4b39-a3a0-25e1c1b8f0d1"}
}

func TestPlanRoundTrip(t *testing.T) {
	want := testPlan()
	got, err := decodePlan(encodePlan(want))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.apps) != len(want.apps) {
		t.Fatalf("%d apps, want %d", len(got.apps), len(want.apps))
	}
	if got.cgroupPath != want.cgroupPath {
		t.Errorf("cgroup path %q, want %q", got.cgroupPath, want.cgroupPath)
	}
	for i, w := range want.apps {
		g := got.apps[i]
		if g.name != w.name || g.rel != w.rel || g.nullStdout != w.nullStdout || g.nullStderr != w.nullStderr || g.notify != w.notify || !reflect.DeepEqual(g.listen, w.listen) || g.listenNames != w.listenNames || g.ra.Name != w.name || g.ra.ReadOnlyRootFS != w.ra.ReadOnlyRootFS ||
			g.app.WorkingDirectory != w.app.WorkingDirectory || !reflect.DeepEqual(g.app.EventHandlers, w.app.EventHandlers) {
			t.Errorf("app %d: got %+v %+v %+v, want %+v %+v %+v", i, g, g.ra, g.app, w, w.ra, w.app)
		}
		if !reflect.DeepEqual(g.spec, w.spec) {
			t.Errorf("app %s: spec\n%+v\nwant\n%+v", w.name, g.spec, w.spec)
		}
		if (g.spec.Bounding == nil) != (w.spec.Bounding == nil) {
			t.Errorf("app %s: nil bounding set not kept apart from an empty one", w.name)
		}
		for j, wm := range w.mounts {
			gm := g.mounts[j]
			wm.vol.ReadOnly = nil // folded into readOnly by planMounts
			if !reflect.DeepEqual(gm, wm) {
				t.Errorf("app %s: mount %d\n%+v\nwant\n%+v", w.name, j, gm, wm)
			}
		}
		if len(g.mounts) != len(w.mounts) {
			t.Errorf("app %s: %d mounts, want %d", w.name, len(g.mounts), len(w.mounts))
		}
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
