package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/stage1abi"
)

func TestParseRunFlags(t *testing.T) {
	const uuid = "6f1f3a4e-1e8a-4f3b-9a53-0c3b6c1a2b7d"
	tests := []struct {
		name    string
		args    []string
		check   func(*stage1abi.RunFlags) bool
		wantErr string
	}{
		{"all of the ABI fly can honour", []string{"--debug", "--net=host", "--interactive", "--local-config=/etc/saturn",
			"--dns-conf-mode=resolv=host,hosts=default", "--ipc=parent",
			"--disable-capabilities-restriction", "--disable-paths", "--disable-seccomp",
			"--mds-token=t", uuid},
			func(f *stage1abi.RunFlags) bool {
				return f.Debug && f.Net == "host" && f.DNSConfMode == stage1abi.DNSConfMode{Resolv: "host", Hosts: "default"} && f.IPC == "parent"
			}, ""},
		{"hostname", []string{"--hostname=h", uuid}, nil, "--hostname cannot be honoured"},
		{"private ipc", []string{"--ipc=private", uuid}, nil, "--ipc=private cannot be honoured"},
		{"user namespace", []string{"--private-users=0:65536", uuid}, nil, "--private-users cannot be honoured"},
		{"default net", []string{"--net=default", uuid}, func(f *stage1abi.RunFlags) bool { return f.Net == "default" }, ""},
		{"unknown flags of newer stage0s", []string{"--future-flag=x", "--future-bool", uuid}, func(f *stage1abi.RunFlags) bool { return f.Net == "default" }, ""},
		{"no uuid", []string{"--debug"}, nil, "expected one pod UUID argument"},
		{"two args", []string{uuid, uuid}, nil, "expected one pod UUID argument"},
		{"bad uuid", []string{"xyz"}, nil, `bad pod UUID "xyz"`},
		{"net none", []string{"--net=none", uuid}, nil, "--net=none cannot be honoured"},
		{"cni net", []string{"--net=mynet", uuid}, nil, "--net=mynet cannot be honoured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRunFlags(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.UUID != uuid || !tc.check(got) {
				t.Errorf("got %+v", *got)
			}
		})
	}
}

func TestCheckIsolators(t *testing.T) {
	retain, err := types.NewLinuxCapabilitiesRetainSet("CAP_NET_ADMIN")
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := types.NewResourceCPUIsolator("100m", "200m")
	if err != nil {
		t.Fatal(err)
	}
	shares, err := types.NewLinuxCPUShares(512)
	if err != nil {
		t.Fatal(err)
	}
	retainIso, err := retain.AsIsolator()
	if err != nil {
		t.Fatal(err)
	}
	sharesIso := shares.AsIsolator()
	tests := []struct {
		name string
		in   types.Isolators
		want string
	}{
		{"none", nil, ""},
		{"capabilities", types.Isolators{*retainIso}, ""},
		{"cpu", types.Isolators{cpu.AsIsolator()}, "cannot apply isolator resource/cpu (fly runs on the host without isolation and cannot apply resource limits)"},
		{"cpu shares", types.Isolators{*retainIso, sharesIso}, "cannot apply isolator os/linux/cpu-shares"},
	}
	for _, tc := range tests {
		err := checkIsolators(tc.in)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestAppVolumesAndPlan(t *testing.T) {
	ro, rw := true, false
	mode, zero := "0755", 0
	implicitEmpty := types.Volume{Name: "cache", Kind: "empty", Mode: &mode, UID: &zero, GID: &zero, ReadOnly: &rw}
	hostVol := types.Volume{Name: "data", Kind: "host", Source: "/srv/data/"}
	tests := []struct {
		name    string
		vols    []types.Volume
		mounts  []schema.Mount
		mps     []types.MountPoint
		dns     stage1abi.DNSConfMode
		want    []flyMount // after the fixed /dev, /proc, /sys, /tmp
		wantErr string
	}{
		{name: "no volumes", dns: stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"}},
		{
			name:   "host volume by mount",
			vols:   []types.Volume{hostVol},
			mounts: []schema.Mount{{Volume: "data", Path: "/data"}},
			dns:    stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"},
			want:   []flyMount{{Source: "/srv/data", Target: "/data", Share: true}},
		},
		{
			name: "mount point takes its readOnly",
			vols: []types.Volume{hostVol},
			mps:  []types.MountPoint{{Name: "data", Path: "/mp", ReadOnly: true}},
			dns:  stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"},
			want: []flyMount{{Source: "/srv/data", Target: "/mp", Share: true, ReadOnly: true}},
		},
		{
			name: "volume readOnly wins over the mount point's",
			vols: []types.Volume{{Name: "data", Kind: "host", Source: "/srv/data", ReadOnly: &rw, Recursive: &ro}},
			mps:  []types.MountPoint{{Name: "data", Path: "/mp", ReadOnly: true}},
			dns:  stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"},
			want: []flyMount{{Source: "/srv/data", Target: "/mp", Share: true, Recursive: true}},
		},
		{
			name:   "mount wins over the mount point of the same volume",
			vols:   []types.Volume{hostVol},
			mounts: []schema.Mount{{Volume: "data", Path: "/m"}},
			mps:    []types.MountPoint{{Name: "data", Path: "/mp"}},
			dns:    stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"},
			want:   []flyMount{{Source: "/srv/data", Target: "/m", Share: true}},
		},
		{
			name:   "app volume in the mount",
			mounts: []schema.Mount{{Volume: "own", Path: "/own", AppVolume: &types.Volume{Name: "own", Kind: "host", Source: "/own-src"}}},
			dns:    stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"},
			want:   []flyMount{{Source: "/own-src", Target: "/own"}},
		},
		{
			name: "dns files",
			dns:  stage1abi.DNSConfMode{Resolv: "host", Hosts: "stage0"},
			want: []flyMount{
				{Source: "/etc/resolv.conf", Target: "/etc/resolv.conf", ReadOnly: true, File: true},
				{Source: "/pod/stage1/rootfs/etc/hosts", Target: "/etc/hosts", ReadOnly: true, File: true},
			},
		},
		{name: "undeclared volume", mounts: []schema.Mount{{Volume: "x", Path: "/x"}}, wantErr: `undeclared volume "x"`},
		{
			name:   "mount naming its mount point",
			vols:   []types.Volume{hostVol},
			mounts: []schema.Mount{{Volume: "data", Path: "data"}},
			mps:    []types.MountPoint{{Name: "data", Path: "/mp", ReadOnly: true}},
			dns:    stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"},
			want:   []flyMount{{Source: "/srv/data", Target: "/mp", Share: true, ReadOnly: true}},
		},
		{
			name:   "one volume mounted twice",
			vols:   []types.Volume{hostVol},
			mounts: []schema.Mount{{Volume: "data", Path: "/a"}, {Volume: "data", Path: "/b"}},
			dns:    stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"},
			want:   []flyMount{{Source: "/srv/data", Target: "/a", Share: true}, {Source: "/srv/data", Target: "/b", Share: true}},
		},
		{
			name: "mount point without volume gets an empty one",
			mps:  []types.MountPoint{{Name: "cache", Path: "/cache"}},
			dns:  stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"},
			want: []flyMount{{Source: "/empty/cache", Target: "/cache", Empty: &implicitEmpty}},
		},
		{name: "relative source", vols: []types.Volume{{Name: "v", Kind: "host", Source: "rel"}},
			mounts: []schema.Mount{{Volume: "v", Path: "/v"}}, wantErr: `source "rel" is not an absolute path`},
		{name: "relative path, taken from the app's root", vols: []types.Volume{hostVol},
			mounts: []schema.Mount{{Volume: "data", Path: "data/../../in"}}, dns: stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"},
			want: []flyMount{{Source: "/srv/data", Target: "/in", Share: true}}},
		{name: "unknown kind", vols: []types.Volume{{Name: "v", Kind: "nfs"}},
			mounts: []schema.Mount{{Volume: "v", Path: "/v"}}, wantErr: `unknown kind "nfs"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &flyPod{
				dir:      "/pod",
				manifest: &schema.PodManifest{Volumes: tc.vols},
				app:      &schema.RuntimeApp{Name: "app", Mounts: tc.mounts},
				App:      &types.App{MountPoints: tc.mps},
			}
			hostMounts := map[string]bool{"/": true, "/srv/data": true}
			isMount := func(path string) bool { return hostMounts[path] }
			got, err := planMounts(p, isMount, tc.dns, func(v types.Volume) string { return "/empty/" + v.Name.String() })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fixed := []flyMount{
				{Source: "/dev", Target: "/dev", Recursive: true},
				{Source: "/proc", Target: "/proc", Recursive: true},
				{Source: "/sys", Target: "/sys", Recursive: true},
				{Target: "/tmp"},
			}
			want := append(fixed, tc.want...)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestPlanEmptyVolume(t *testing.T) {
	mode, uid, gid := "0700", 1, 2
	vol := types.Volume{Name: "scratch", Kind: "empty", Mode: &mode, UID: &uid, GID: &gid}
	p := &flyPod{
		dir:      "/pod",
		manifest: &schema.PodManifest{Volumes: []types.Volume{vol}},
		app:      &schema.RuntimeApp{Name: "app", Mounts: []schema.Mount{{Volume: "scratch", Path: "/s"}}},
		App:      &types.App{},
	}
	got, err := planMounts(p, func(string) bool { return false }, stage1abi.DNSConfMode{Resolv: "default", Hosts: "default"}, func(v types.Volume) string { return "/empty/" + v.Name.String() })
	if err != nil {
		t.Fatal(err)
	}
	last := got[len(got)-1]
	if last.Source != "/empty/scratch" || last.Target != "/s" || last.Empty == nil || *last.Empty.Mode != "0700" {
		t.Errorf("empty volume mount %+v", last)
	}
}

func TestMountHelpers(t *testing.T) {
	points := map[string]bool{"/": true, "/a": true, "/a/b": true, "/a/b/c": true, "/ab": true}
	if got := mountsBelow(points, "/a"); !reflect.DeepEqual(got, []string{"/a/b/c", "/a/b"}) {
		t.Errorf("mountsBelow = %v", got)
	}
	for path, want := range map[string]string{"/a/b/x/y": "/a/b", "/ab/c": "/ab", "/z": "/", "/a": "/a"} {
		if got := mountOf(path, points); got != want {
			t.Errorf("mountOf(%s) = %s, want %s", path, got, want)
		}
	}
}

// TestHostMounts checks that statx's answer agrees with the mount table
// for every mount point of this namespace and for paths that are none.
func TestHostMounts(t *testing.T) {
	table, err := hostMountPoints()
	if err != nil {
		t.Fatal(err)
	}
	h := &hostMounts{}
	for mp := range table {
		if fi, err := os.Lstat(mp); err != nil || fi.Mode()&os.ModeSymlink != 0 {
			continue // hidden under a later mount, or not reachable by its path
		}
		if !h.isMount(mp) {
			t.Errorf("isMount(%s) = false for a mount point", mp)
		}
	}
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "missing"), link} {
		if table[p] {
			continue
		}
		if h.isMount(p) {
			t.Errorf("isMount(%s) = true for no mount point", p)
		}
	}
	if h.points != nil {
		t.Error("the mount table was read although statx could tell")
	}
	if got, err := h.mountOf(filepath.Join(dir, "missing")); err != nil || got != mountOf(filepath.Join(dir, "missing"), table) {
		t.Errorf("mountOf = %q, %v", got, err)
	}
}
