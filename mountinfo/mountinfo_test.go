package mountinfo

import (
	"reflect"
	"strings"
	"testing"
)

func TestUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/plain/path", "/plain/path"},
		{`/with\040space`, "/with space"},
		{`/new\012line`, "/new\nline"},
		{`/back\134slash`, `/back\slash`},
		{`/short\04`, `/short\04`},
		{`/not\999octal`, `/not\999octal`},
		{`/end\`, `/end\`},
		{`/tab\011x`, "/tab\tx"},
		{`/bad\9xx`, `/bad\9xx`},
		{`/back\\`, `/back\\`},
	}
	for _, tc := range tests {
		if got := unescape(tc.in); got != tc.want {
			t.Errorf("unescape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

const table = `22 1 8:1 / / rw - ext4 /dev/vda rw
30 22 0:5 / /pods/p/stage1/rootfs rw - overlay overlay rw
31 30 0:6 / /pods/p/stage1/rootfs/opt/stage2/a/rootfs rw - overlay overlay rw
32 31 0:7 / /pods/p/stage1/rootfs/opt/stage2/a/rootfs/proc rw - proc proc rw
33 30 0:8 / /pods/p/stage1/rootfs rw - tmpfs tmpfs rw
34 22 0:9 / /pods/p2 rw - tmpfs tmpfs rw
35 22 0:10 / /pods/p\040x rw - tmpfs tmpfs rw
short line
`

func TestBelow(t *testing.T) {
	all, err := parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	got := below(all, "/pods/p")
	want := []string{
		"/pods/p/stage1/rootfs/opt/stage2/a/rootfs/proc",
		"/pods/p/stage1/rootfs/opt/stage2/a/rootfs",
		"/pods/p/stage1/rootfs", // stacked later, so taken off first
		"/pods/p/stage1/rootfs",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("below(/pods/p) = %q, want %q", got, want)
	}
	if got := below(all, "/pods/p x"); !reflect.DeepEqual(got, []string{"/pods/p x"}) {
		t.Errorf("escaped point: got %q", got)
	}
	if got := below(all, "/nowhere"); len(got) != 0 {
		t.Errorf("below(/nowhere) = %q, want nothing", got)
	}
}

func TestPointsReadsThisNamespace(t *testing.T) {
	mps, err := Points()
	if err != nil {
		t.Fatal(err)
	}
	if len(mps) == 0 || mps[0] == "" {
		t.Fatalf("Points() = %q, want at least the root mount", mps)
	}
}

func TestParseMounts(t *testing.T) {
	const in = `22 1 8:1 / / rw shared:1 - ext4 /dev/vda rw
40 22 0:30 / /sys/fs/cgroup/cpu rw,relatime shared:5 master:2 - cgroup cgroup rw,cpu
41 22 0:31 /sub /mnt/with\040space rw - cgroup2 cgroup2 rw,nsdelegate
42 22 0:32 / /no/separator rw
short
`
	got, err := parseMounts(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Root: "/", Point: "/", FSType: "ext4", Source: "/dev/vda", SuperOptions: "rw"},
		{Root: "/", Point: "/sys/fs/cgroup/cpu", FSType: "cgroup", Source: "cgroup", SuperOptions: "rw,cpu"},
		{Root: "/sub", Point: "/mnt/with space", FSType: "cgroup2", Source: "cgroup2", SuperOptions: "rw,nsdelegate"},
		{Root: "/", Point: "/no/separator"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMounts:\n got %+v\nwant %+v", got, want)
	}
}
