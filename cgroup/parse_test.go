package cgroup

import (
	"reflect"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/mountinfo"
)

func TestParseProcCgroup(t *testing.T) {
	in := "9:name=systemd:/\n4:memory:/process_api/x\n2:cpu,cpuacct:/a b\n0::/user.slice\n"
	got, err := parseProcCgroup(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []procCgroup{
		{[]string{"name=systemd"}, "/"},
		{[]string{"memory"}, "/process_api/x"},
		{[]string{"cpu", "cpuacct"}, "/a b"},
		{nil, "/user.slice"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{"nocolons\n", "1:memory\n", "1:memory:relative\n", ":memory:/\n"} {
		if _, err := parseProcCgroup(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func cg1(point, opts string) mountinfo.Mount {
	return mountinfo.Mount{Root: "/", Point: point, FSType: "cgroup", SuperOptions: opts}
}

func TestLayoutOf(t *testing.T) {
	unified := mountinfo.Mount{Root: "/", Point: "/sys/fs/cgroup", FSType: "cgroup2", SuperOptions: "rw,nsdelegate"}
	hybridUnified := mountinfo.Mount{Root: "/", Point: "/sys/fs/cgroup/unified", FSType: "cgroup2", SuperOptions: "rw"}
	v1Own := []procCgroup{
		{[]string{"name=systemd"}, "/"}, {[]string{"memory"}, "/m"}, {[]string{"cpu", "cpuacct"}, "/c"},
		{[]string{"net_cls"}, "/"}, {nil, "/u"},
	}
	tests := []struct {
		name    string
		ms      []mountinfo.Mount
		own     []procCgroup
		layout  Layout
		unified string
		v1      map[string]string
		home    map[string]string
	}{
		{
			name:    "pure v2",
			ms:      []mountinfo.Mount{{Root: "/", Point: "/", FSType: "ext4"}, unified},
			own:     []procCgroup{{nil, "/init.scope"}},
			layout:  Unified,
			unified: "/sys/fs/cgroup",
			v1:      map[string]string{},
			home:    map[string]string{"/sys/fs/cgroup": "/init.scope"},
		},
		{
			name: "hybrid, co-mounted cpu,cpuacct; name=systemd, net_cls and a subtree bind are left alone",
			ms: []mountinfo.Mount{
				cg1("/sys/fs/cgroup/systemd", "rw,xattr,name=systemd"),
				cg1("/sys/fs/cgroup/memory", "rw,memory"),
				cg1("/sys/fs/cgroup/cpu,cpuacct", "rw,cpu,cpuacct"),
				cg1("/sys/fs/cgroup/net_cls", "rw,net_cls"),
				{Root: "/m", Point: "/elsewhere", FSType: "cgroup", SuperOptions: "rw,memory"},
				hybridUnified,
			},
			own:     v1Own,
			layout:  Hybrid,
			unified: "/sys/fs/cgroup/unified",
			v1: map[string]string{
				"memory": "/sys/fs/cgroup/memory",
				"cpu":    "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
			},
			home: map[string]string{
				"/sys/fs/cgroup/memory":      "/m",
				"/sys/fs/cgroup/cpu,cpuacct": "/c", "/sys/fs/cgroup/unified": "/u",
			},
		},
		{
			name:   "v1 without a unified mount",
			ms:     []mountinfo.Mount{cg1("/cg/memory", "rw,memory")},
			own:    v1Own,
			layout: Legacy,
			v1:     map[string]string{"memory": "/cg/memory"},
			home:   map[string]string{"/cg/memory": "/m"},
		},
		{
			name:    "a v1 mount of a hierarchy this process is not in is not used",
			ms:      []mountinfo.Mount{cg1("/cg/pids", "rw,pids"), unified},
			own:     []procCgroup{{nil, "/"}},
			layout:  Unified,
			unified: "/sys/fs/cgroup",
			v1:      map[string]string{},
			home:    map[string]string{"/sys/fs/cgroup": "/"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := layoutOf(tc.ms, tc.own)
			if err != nil {
				t.Fatal(err)
			}
			if h.Layout != tc.layout || h.Unified != tc.unified || !reflect.DeepEqual(h.V1, tc.v1) || !reflect.DeepEqual(h.home, tc.home) {
				t.Errorf("got layout %s unified %q v1 %v home %v\nwant layout %s unified %q v1 %v home %v",
					h.Layout, h.Unified, h.V1, h.home, tc.layout, tc.unified, tc.v1, tc.home)
			}
		})
	}
	if _, err := layoutOf([]mountinfo.Mount{{Root: "/", Point: "/", FSType: "ext4"}}, v1Own); err == nil {
		t.Error("no cgroup mount: no error")
	}
}

func TestSharesToWeight(t *testing.T) {
	for _, tc := range []struct{ shares, weight uint64 }{
		{0, 1}, {1, 1}, {2, 1}, {1024, 100}, {262144, 10000}, {1 << 20, 10000},
		{512, 59}, {2048, 174},
	} {
		if got := SharesToWeight(tc.shares); got != tc.weight {
			t.Errorf("SharesToWeight(%d) = %d, want %d", tc.shares, got, tc.weight)
		}
	}
	prev := uint64(0)
	for s := uint64(MinShares); s <= MaxShares; s += 97 {
		w := SharesToWeight(s)
		if w < prev || w < minWeight || w > maxWeight {
			t.Fatalf("SharesToWeight(%d) = %d after %d: not monotonic or out of range", s, w, prev)
		}
		prev = w
	}
}

func TestCPUQuotaOf(t *testing.T) {
	for _, tc := range []struct {
		milli, quota int64
		ok           bool
	}{
		{250, 25000, true}, {1000, 100000, true}, {2500, 250000, true}, {10, 1000, true},
		{9, 0, false}, {0, 0, false}, {-5, 0, false}, {1 << 62, 0, false},
	} {
		q, err := CPUQuotaOf(tc.milli)
		if (err == nil) != tc.ok || q != tc.quota {
			t.Errorf("CPUQuotaOf(%d) = %d, %v; want %d, ok %v", tc.milli, q, err, tc.quota, tc.ok)
		}
	}
}

func TestParseQuantity(t *testing.T) {
	for _, tc := range []struct {
		s     string
		scale int
		want  int64
		ok    bool
	}{
		{"50M", 0, 50_000_000, true},
		{"50Mi", 0, 50 << 20, true},
		{"1.5Gi", 0, 3 << 29, true},
		{"2G", 0, 2_000_000_000, true},
		{"1024", 0, 1024, true},
		{"100k", 0, 100_000, true},
		{"1e3", 0, 1000, true},
		{"1E3", 0, 1000, true},
		{"1.5", 0, 2, true}, // bytes round up
		{"250m", 3, 250, true},
		{"0.25", 3, 250, true},
		{"2", 3, 2000, true},
		{"1500u", 3, 2, true}, // 1.5 milli rounds up
		{"+1", 0, 1, true},
		{"8Ei", 0, 0, false}, // overflows int64
		{"", 0, 0, false},
		{"M", 0, 0, false},
		{"-1", 0, 0, false},
		{"1.2.3", 0, 0, false},
		{"10X", 0, 0, false},
		{"1e", 0, 0, false},
		{"1e99", 0, 0, false},
		{"5 M", 0, 0, false},
		{"1Kib", 0, 0, false},
	} {
		got, err := ParseQuantity(tc.s, tc.scale)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseQuantity(%q, %d) = %d, %v; want %d, ok %v", tc.s, tc.scale, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"50M", "1.5Gi", "250m", "1e3", "0.000001", "9223372036854775807", "7Ei"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseQuantity(s, 0)
		if err == nil && v < 0 {
			t.Fatalf("ParseQuantity(%q) = %d", s, v)
		}
	})
}

func TestCheckPodPath(t *testing.T) {
	const id = "0b2c1f06-2c8e-4b39-a3a0-25e1c1b8f0d1"
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/machine.slice/saturn-" + id, true},
		{"/machine.slice/saturn-" + id + ".scope", true},
		{"/saturn-" + id, true},
		{"/machine.slice", false},
		{"/", false},
		{"machine.slice/saturn-" + id, false},
		{"/a/../saturn-" + id, false},
		{"/machine.slice/saturn-other", false},
	} {
		if err := checkPodPath(tc.path, id); (err == nil) != tc.ok {
			t.Errorf("checkPodPath(%q) = %v, want ok %v", tc.path, err, tc.ok)
		}
	}
}

func TestScopePath(t *testing.T) {
	const scope = "saturn-x.scope"
	v2 := "0::/machine.slice/" + scope + "\n"
	v1 := "3:memory:/machine.slice/" + scope + "\n1:name=systemd:/machine.slice/" + scope + "\n0::/\n"
	for _, in := range []string{v2, v1} {
		got, err := scopePath([]byte(in), scope)
		if err != nil || got != "/machine.slice/"+scope {
			t.Errorf("scopePath(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := scopePath([]byte("0::/user.slice\n"), scope); err == nil {
		t.Error("not in the scope: no error")
	}
}

// fakeDriver holds the controllers it is given.
type fakeDriver struct {
	driver
	ctrls []string
}

func (f fakeDriver) has(c string) bool {
	for _, x := range f.ctrls {
		if x == c {
			return true
		}
	}
	return false
}

func TestCheckRefusesWhatCannotBeEnforced(t *testing.T) {
	ds := []driver{fakeDriver{ctrls: []string{"memory", "pids"}}, fakeDriver{ctrls: []string{"cpu"}}}
	ok := []Resources{{}, {Memory: 1 << 20}, {CPUQuota: 25000}, {CPUShares: 512, Pids: 10}}
	for _, r := range ok {
		if err := check(ds, &r); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
	bad := map[string]Resources{
		"blkio":  {BlockBPS: 1 << 20},
		"cpuset": {CPUs: "0"},
	}
	for ctrl, r := range bad {
		err := check(ds, &r)
		if err == nil || !strings.Contains(err.Error(), "no "+ctrl+" cgroup controller") {
			t.Errorf("%+v: error %v, want one naming %s", r, err, ctrl)
		}
	}
}
