package pod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// checkedPlan is planFor's error alone.
func checkedPlan(t *testing.T, f *fakeTrees, args ...string) error {
	t.Helper()
	_, err := planFor(t, f, args...)
	return err
}

// generated is the pod manifest stage0 generates for args, every app
// of image 1.
func generated(t *testing.T, f *fakeTrees, args ...string) *schema.PodManifest {
	t.Helper()
	o, _, err := parse(args)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range o.Apps.Apps {
		a.ImageID = fakeID(1)
	}
	pm, err := Generate(o, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

func TestNewPlanChecksApps(t *testing.T) {
	f := newFakeTrees(t)
	ok := [][]string{
		{"busybox"},
		{"busybox", "--exec=sh"},  // on the default PATH, through a symlink
		{"busybox", "--exec=env"}, // /usr/bin/env -> /bin/busybox, absolute link resolved in the image
		{"busybox", "--exec=busybox", "--environment=PATH=/bin"},
		{"busybox", "--exec=/usr/bin/env", "--user=tester", "--group=testers"},
		{"busybox", "--user=1234", "--group=/etc/passwd"},
	}
	for _, args := range ok {
		if err := checkedPlan(t, f, args...); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"busybox", "--exec=/nonexistent"}, `app "busybox": executable "/nonexistent" not found in image example.com/busybox`},
		{[]string{"busybox", "--exec=nope"}, `app "busybox": executable "nope" not found on PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin in image example.com/busybox`},
		{[]string{"busybox", "--exec=env", "--environment=PATH=/bin"}, `executable "env" not found on PATH /bin in image`},
		{[]string{"busybox", "--exec=bin/sh"}, `executable "bin/sh" is neither an absolute path nor a name`},
		{[]string{"busybox", "--exec=/etc/passwd"}, `executable "/etc/passwd" is not an executable file`},
		{[]string{"busybox", "--name=web", "--user=alice"}, `app "web": user "alice" not found in image example.com/busybox`},
		{[]string{"busybox", "--group=wheel"}, `app "busybox": group "wheel" not found in image example.com/busybox`},
		{[]string{"busybox", "--user=/no/such/file"}, `user "/no/such/file": file not found in image`},
	}
	for _, b := range bad {
		err := checkedPlan(t, f, b.args...)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: %v, want %q", b.args, err, b.want)
			continue
		}
		if strings.Contains(err.Error(), f.root) {
			t.Errorf("%q: error names the store's tree: %v", b.args, err)
		}
		var refused *CheckError
		if !errors.As(err, &refused) || !strings.HasPrefix(refused.Error(), `app "`) {
			t.Errorf("%q: no CheckError starting with the app in %v", b.args, err)
		}
	}
}

func TestCheckVolume(t *testing.T) {
	tests := []struct {
		flag string
		want string // "" when valid
	}{
		{"data,kind=empty", ""},
		{"data,kind=empty,mode=0700,uid=1000,gid=1000", ""},
		{"data,kind=empty,mode=1777", ""},
		{"data,kind=host,source=/tmp", ""},
		{"data,kind=empty,mode=999", `invalid mode "999"`},
		{"data,kind=empty,mode=rwx", `invalid mode "rwx"`},
		{"data,kind=empty,mode=17777", `invalid mode "17777"`},
		{"data,kind=empty,uid=-1", "invalid uid -1"},
		{"data,kind=empty,gid=-5", "invalid gid -5"},
		{"data,kind=empty,uid=4294967295", "invalid uid 4294967295"},
	}
	for _, tt := range tests {
		v, err := types.VolumeFromString(tt.flag)
		if err != nil {
			t.Fatalf("%s: %v", tt.flag, err)
		}
		err = CheckVolume(*v)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.flag, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want %q", tt.flag, err, tt.want)
		}
	}
	// The parser refuses them too, naming the flag.
	if _, _, err := parse([]string{"--volume=data,kind=empty,mode=999", "busybox"}); err == nil || !strings.Contains(err.Error(), `invalid --volume "data,kind=empty,mode=999"`) {
		t.Errorf("parser: %v", err)
	}
}

// A hand-written pod manifest's empty volumes are checked like --volume's,
// pod-wide and inline in an app's mount.
func TestLoadManifestChecksVolumes(t *testing.T) {
	imgs := fakeImages{fakeID(1): imageManifest(t, "example.com/busybox", busyApp)}
	for _, tt := range []struct{ volumes, mounts, want string }{
		{`[{"name":"data","kind":"empty","mode":"999","uid":0,"gid":0}]`, `[]`, `volume data: invalid mode "999"`},
		{`[{"name":"data","kind":"empty","mode":"0755","uid":-3,"gid":0}]`, `[]`, "volume data: invalid uid -3"},
		{`[{"name":"data","kind":"empty","mode":"0755","uid":0,"gid":0}]`,
			`[{"volume":"data","path":"/d","appVolume":{"name":"data","kind":"empty","mode":"0755","uid":0,"gid":-1}}]`, "app one: volume data: invalid gid -1"},
	} {
		p := filepath.Join(t.TempDir(), "pod.json")
		js := fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","volumes":%s,"apps":[{"name":"one","image":{"id":%q},"mounts":%s}]}`,
			tt.volumes, fakeID(1), tt.mounts)
		if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadManifest(p, imgs, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %s: %v, want %q", tt.volumes, tt.mounts, err, tt.want)
		}
	}
}

// countingTrees counts RenderTree calls per image and fails the images
// in bad.
type countingTrees struct {
	*fakeTrees
	mu    sync.Mutex
	calls map[string]int
	bad   map[string]bool
}

func (c *countingTrees) RenderTree(id string) (string, string, error) {
	c.mu.Lock()
	c.calls[id]++
	c.mu.Unlock()
	if c.bad[id] {
		return "", "", fmt.Errorf("tree of %s broken", id)
	}
	return c.fakeTrees.RenderTree(id)
}

func TestNewPlanRendersEachImageOnce(t *testing.T) {
	f := newFakeTrees(t)
	pm := generated(t, f, "busybox", "--name=a", "busybox", "--name=b", "busybox", "--name=c")
	c := &countingTrees{fakeTrees: f, calls: map[string]int{}}
	plan, err := NewPlan(pm, fakeID(100), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Apps) != 3 || plan.Stage1.ImageID != fakeID(100) {
		t.Fatalf("plan: stage1 %s, %d apps", plan.Stage1.ImageID, len(plan.Apps))
	}
	for i, app := range plan.Apps {
		if app.ImageID != fakeID(1) || app.TreeID != plan.Apps[0].TreeID {
			t.Errorf("app %d: tree %+v", i, app)
		}
	}
	if c.calls[fakeID(1)] != 1 || c.calls[fakeID(100)] != 1 {
		t.Errorf("renders per image: %v, want one each", c.calls)
	}

	// Failures are reported in order, stage1 first, whatever finished first.
	c = &countingTrees{fakeTrees: f, calls: map[string]int{}, bad: map[string]bool{fakeID(100): true, fakeID(1): true}}
	if _, err := NewPlan(pm, fakeID(100), c); err == nil || !strings.HasPrefix(err.Error(), "stage1: render "+fakeID(100)+": tree of") {
		t.Errorf("both broken: %v, want stage1's error", err)
	}
	c = &countingTrees{fakeTrees: f, calls: map[string]int{}, bad: map[string]bool{fakeID(1): true}}
	if _, err := NewPlan(pm, fakeID(100), c); err == nil || !strings.HasPrefix(err.Error(), "app a: render "+fakeID(1)+": tree of") {
		t.Errorf("app image broken: %v, want the first app's error", err)
	}
}
