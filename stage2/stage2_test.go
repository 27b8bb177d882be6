package stage2

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"
)

func TestFindID(t *testing.T) {
	db := "# comment\nroot:x:0:0:root:/root:/bin/sh\n\ntester:x:1000:1000::/home:/bin/sh\nbroken:x:abc:1\nshort:x\n"
	tests := []struct {
		name    string
		id      uint32
		ok      bool
		wantErr bool
	}{
		{"root", 0, true, false},
		{"tester", 1000, true, false},
		{"ghost", 0, false, false},
		{"short", 0, false, false},
		{"broken", 0, false, true},
		{"# comment", 0, false, false},
	}
	for _, tc := range tests {
		id, ok, err := FindID(strings.NewReader(db), tc.name)
		if id != tc.id || ok != tc.ok || (err != nil) != tc.wantErr {
			t.Errorf("FindID(%q) = %d, %v, %v; want %d, %v, err %v", tc.name, id, ok, err, tc.id, tc.ok, tc.wantErr)
		}
	}
}

func TestParseCap(t *testing.T) {
	tests := []struct {
		in   string
		want Cap
		err  bool
	}{
		{"CAP_NET_ADMIN", unix.CAP_NET_ADMIN, false},
		{"cap_kill", unix.CAP_KILL, false},
		{"SYS_ADMIN", unix.CAP_SYS_ADMIN, false},
		{"CAP_FLY", 0, true},
		{"", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseCap(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseCap(%q) = %d, %v; want %d, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestEnvironment(t *testing.T) {
	app := &types.App{}
	app.Environment.Set("PATH", "/custom")
	app.Environment.Set("AC_APP_NAME", "spoofed")
	app.Environment.Set("FOO", "bar")
	tests := []struct {
		name string
		app  *types.App
		o    Options
		want []string
	}{
		{"defaults", &types.App{}, Options{}, []string{"PATH=" + DefaultPath, "container=saturn", "AC_APP_NAME=web"}},
		{"manifest overrides PATH, not AC_APP_NAME", app, Options{MetadataURL: "http://mds/tok"},
			[]string{"PATH=/custom", "container=saturn", "AC_APP_NAME=web", "FOO=bar", "AC_METADATA_URL=http://mds/tok"}},
	}
	for _, tc := range tests {
		if got := Environment("web", tc.app, tc.o); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestAppSpecCapabilities(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("web:x:33:33::/:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("web:x:33:\n"), 0o644)
	iso := func(name, value string) types.Isolator {
		var i types.Isolator
		if err := i.UnmarshalJSON([]byte(`{"name":"` + name + `","value":` + value + `}`)); err != nil {
			t.Fatal(err)
		}
		return i
	}
	tests := []struct {
		name          string
		user          string
		isolators     types.Isolators
		o             Options
		bounding, amb []Cap
		nnp           bool
	}{
		{"default", "0", nil, Options{}, DefaultCaps, nil, false},
		{"remove", "0", types.Isolators{iso(types.LinuxCapabilitiesRevokeSetName, `{"set":["CAP_MKNOD","CAP_SYS_ADMIN"]}`)}, Options{},
			withoutCap(DefaultCaps, unix.CAP_MKNOD), nil, false},
		{"retain root", "0", types.Isolators{iso(types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NET_ADMIN"]}`)}, Options{},
			[]Cap{unix.CAP_NET_ADMIN}, nil, false},
		{"retain user gets ambient", "web", types.Isolators{iso(types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NET_ADMIN"]}`)}, Options{},
			[]Cap{unix.CAP_NET_ADMIN}, []Cap{unix.CAP_NET_ADMIN}, false},
		{"all caps", "0", types.Isolators{iso(types.LinuxNoNewPrivilegesName, `true`)}, Options{AllCaps: true}, nil, nil, true},
	}
	for _, tc := range tests {
		s, err := AppSpec(root, "web", &types.App{User: tc.user, Group: "web", Isolators: tc.isolators}, []string{"/x"}, tc.o)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(s.Bounding, tc.bounding) || !slices.Equal(s.Ambient, tc.amb) || s.NoNewPrivs != tc.nnp || s.GID != 33 {
			t.Errorf("%s: bounding %v ambient %v nnp %v gid %d; want %v %v %v 33", tc.name, s.Bounding, s.Ambient, s.NoNewPrivs, s.GID, tc.bounding, tc.amb, tc.nnp)
		}
	}
	if _, err := AppSpec(root, "web", &types.App{User: "nobody", Group: "0"}, []string{"/x"}, Options{}); err == nil || !strings.Contains(err.Error(), `"nobody" not found`) {
		t.Errorf("unknown user: err %v", err)
	}
}

// A supplementary gid must reach setgroups as itself: one past 32 bits
// would be truncated (4294967296 to root's 0), a negative one wrap.
func TestAppSpecRefusesOutOfRangeGIDs(t *testing.T) {
	root := t.TempDir()
	for _, g := range []int64{-1, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint32 + 1 + 33} {
		_, err := AppSpec(root, "web", &types.App{User: "0", Group: "0", SupplementaryGIDs: []int{1, int(g)}}, []string{"/x"}, Options{})
		if want := fmt.Sprintf("app web: supplementary gid %d out of range", g); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("supplementary gid %d: err %v, want %q", g, err, want)
		}
	}
	s, err := AppSpec(root, "web", &types.App{User: "0", Group: "0", SupplementaryGIDs: []int{0, math.MaxUint32 - 1}}, []string{"/x"}, Options{})
	if err != nil || !slices.Equal(s.Groups, []uint32{0, math.MaxUint32 - 1}) {
		t.Errorf("gids 0 and 4294967294: groups %v, err %v", s, err)
	}
}

func TestCheckExec(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/bin/tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/bin/data"), []byte("x"), 0o644)
	os.Symlink("usr/bin", filepath.Join(root, "bin"))
	tests := []struct {
		args []string
		ok   bool
	}{
		{[]string{"/usr/bin/tool"}, true},
		{[]string{"/bin/tool"}, true},
		{[]string{"tool"}, true},
		{[]string{"/usr/bin/data"}, false},
		{[]string{"/usr/bin"}, false},
		{[]string{"bin/tool"}, false},
		{nil, false},
	}
	for _, tc := range tests {
		if err := CheckExec(root, tc.args, nil); (err == nil) != tc.ok {
			t.Errorf("CheckExec(%q) = %v, want ok %v", tc.args, err, tc.ok)
		}
	}
}

func withoutCap(set []Cap, drop Cap) []Cap {
	var out []Cap
	for _, c := range set {
		if c != drop {
			out = append(out, c)
		}
	}
	return out
}
