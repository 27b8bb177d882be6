package tests

import (
	"slices"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// devicesScript makes a device node with /dev/null's numbers (so a
// failing test touches no disk) in each directory it is given and tries
// to open it, then uses the pod's own nodes.
const devicesScript = `for d in "$@"; do
	n=${d%/}/made-null
	if ! mknod "$n" c 1 3 2>/dev/null; then echo "$d: mknod refused"; continue; fi
	if out=$( { echo x > "$n"; } 2>&1 ); then echo "$d: opens"; else echo "$d: ${out##*: }"; fi
done
echo x > /dev/null && echo null works
head -c 4 /dev/zero | od -An -tx1 | tr -d ' \n'; echo
head -c 4 /dev/urandom | wc -c
[ -c /dev/tty ] && echo tty is a device
touch /rootfile 2>/dev/null && echo rootfs writable || echo rootfs read-only`

// Apps keep CAP_MKNOD (appc's default set) and saturn has no device
// cgroup: a device node an app makes in its rootfs, its /tmp, the pod's
// /dev, /dev/shm or an empty volume must not open, with or without
// overlays, while the pod's own nodes work and --readonly-rootfs still
// holds.
func TestStage1AppDeviceNodesDoNotOpen(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{Modify: func(m *schema.ImageManifest) {
		m.App.MountPoints = []types.MountPoint{{Name: "scratch", Path: "/scratch"}}
	}})
	const refused = "Permission denied"
	common := []string{"/dev: " + refused, "/dev/shm: " + refused, "/scratch: " + refused,
		"null works", "00000000", "4", "tty is a device"}
	for _, tc := range []struct {
		name   string
		before []string
		app    []string
		want   []string
	}{
		{"overlay", nil, nil,
			append([]string{"/: " + refused, "/tmp: " + refused}, append(common, "rootfs writable")...)},
		{"no-overlay", []string{"--no-overlay"}, nil,
			append([]string{"/: " + refused, "/tmp: " + refused}, append(common, "rootfs writable")...)},
		{"overlay-readonly", nil, []string{"--readonly-rootfs"},
			append([]string{"/: mknod refused", "/tmp: mknod refused"}, append(common, "rootfs read-only")...)},
		{"no-overlay-readonly", []string{"--no-overlay"}, []string{"--readonly-rootfs"},
			append([]string{"/: mknod refused", "/tmp: mknod refused"}, append(common, "rootfs read-only")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(slices.Clone(tc.before), "--volume=scratch,kind=empty", bb)
			args = append(append(args, tc.app...), "--exec=/bin/sh", "--", "-c", devicesScript,
				"sh", "/", "/tmp", "/dev", "/dev/shm", "/scratch")
			r, _ := s1Run(t, e, args...)
			if r.Code != 0 {
				t.Fatalf("saturn run: %s", r)
			}
			if got := s1Lines(r.Stdout, "busybox"); !slices.Equal(got, tc.want) {
				t.Errorf("printed %q, want %q", got, tc.want)
			}
		})
	}
}
