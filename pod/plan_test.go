package pod

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
)

// fakeTrees is an image store whose trees are directories made by the
// test: <root>/<n>/{manifest,rootfs}.
type fakeTrees struct {
	fakeImages
	root string
}

func (f *fakeTrees) RenderTree(id string) (string, string, error) {
	if _, ok := f.fakeImages[id]; !ok {
		return "", "", fmt.Errorf("no image %s", id)
	}
	treeID := "deps-" + id[len(id)-8:]
	return treeID, filepath.Join(f.root, treeID), nil
}

func (f *fakeTrees) locate(treeID string) (string, error) { return filepath.Join(f.root, treeID), nil }

// addImage makes image n with the given manifest and rootfs files
// (path -> content; content "->target" makes a symlink).
func (f *fakeTrees) addImage(t *testing.T, n int, m *schema.ImageManifest, files map[string]string) string {
	t.Helper()
	id := fakeID(n)
	f.fakeImages[id] = m
	treeID, dir, _ := f.RenderTree(id)
	_ = treeID
	b, _ := json.Marshal(m)
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		full := filepath.Join(dir, "rootfs", p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			mode := os.FileMode(0o644)
			if strings.HasPrefix(p, "bin/") || p == "init" {
				mode = 0o755
			}
			err = os.WriteFile(full, []byte(content), mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func newFakeTrees(t *testing.T) *fakeTrees {
	f := &fakeTrees{fakeImages: fakeImages{}, root: t.TempDir()}
	f.addImage(t, 100, imageManifest(t, "example.com/stage1", stage1Manifest), map[string]string{"init": "#!/bin/sh\n"})
	f.addImage(t, 1, imageManifest(t, "example.com/busybox", `,"app":{"exec":["/bin/sh"],"user":"0","group":"0"}`), map[string]string{
		"bin/busybox": "ELF", "bin/sh": "busybox", "usr/bin/env": "->/bin/busybox",
		"etc/passwd": "root:x:0:0::/:/bin/sh\ntester:x:1000:1000::/:/bin/sh\n",
		"etc/group":  "root:x:0:\ntesters:x:1000:\n",
	})
	// bin/sh as a relative symlink, like busybox applets.
	os.Remove(filepath.Join(f.root, "deps-00000001", "rootfs/bin/sh"))
	os.Symlink("busybox", filepath.Join(f.root, "deps-00000001", "rootfs/bin/sh"))
	return f
}

func planFor(t *testing.T, f *fakeTrees, args ...string) (*Plan, error) {
	t.Helper()
	return NewPlan(generated(t, f, args...), fakeID(100), f)
}

func TestPlanChecks(t *testing.T) {
	f := newFakeTrees(t)
	ok := [][]string{
		{"busybox"},
		{"busybox", "--exec=/usr/bin/env", "--user=tester", "--group=testers"},
		{"busybox", "--exec=sh", "--user=1234", "--group=/etc/passwd"},
	}
	for _, args := range ok {
		if _, err := planFor(t, f, args...); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"busybox", "--exec=/bin/nope"}, `app "busybox": executable "/bin/nope" not found in image example.com/busybox`},
		{[]string{"busybox", "--exec=relative"}, `executable "relative" not found on PATH`},
		{[]string{"busybox", "--exec=/etc/passwd"}, "not an executable file"},
		{[]string{"busybox", "--exec=/bin"}, "not an executable file"},
		{[]string{"busybox", "--user=alice"}, `user "alice" not found in image example.com/busybox`},
		{[]string{"busybox", "--group=wheel"}, `group "wheel" not found in image example.com/busybox`},
	}
	for _, b := range bad {
		if _, err := planFor(t, f, b.args...); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: %v, want %q", b.args, err, b.want)
		}
	}
}
