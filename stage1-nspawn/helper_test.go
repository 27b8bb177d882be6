package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/stage2/launch"
)

// The stage2 helper's arguments, which every app of the pod can read in
// /proc/<pid>/cmdline, name only the fd its spec comes on.
func TestHelperArgsKeepSpecOut(t *testing.T) {
	adj := 5
	spec := &launch.Spec{Args: []string{"/app", "--token=hush"}, Env: []string{"SECRET=hush"}, OOMScoreAdj: &adj}
	files := []uintptr{0, 1, 2}
	argv, all, fd, err := helperArgs(spec, files)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "spec")
	defer f.Close()
	if !slices.Equal(argv, []string{stage2Name, "3"}) || strings.Contains(strings.Join(argv, " "), "hush") {
		t.Errorf("helper arguments %q, want its name and the spec's fd, 3", argv)
	}
	if !slices.Equal(all, []uintptr{0, 1, 2, uintptr(fd)}) || !slices.Equal(files, []uintptr{0, 1, 2}) {
		t.Errorf("helper files %v (caller's now %v), want 0 1 2 and the spec's memfd %d", all, files, fd)
	}
	var got launch.Spec
	if err := json.NewDecoder(f).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Env, spec.Env) || !slices.Equal(got.Args, spec.Args) || got.OOMScoreAdj == nil || *got.OOMScoreAdj != adj {
		t.Errorf("spec in the memfd %+v, want %+v", got, spec)
	}
}

// The helper is exec'ed in PID 1's mount namespace and joins the app's
// from an fd it inherits, after the spec's, named in the spec by its
// number in the helper.
func TestHelperArgsPassMountNamespace(t *testing.T) {
	adj := 5
	spec := &launch.Spec{Args: []string{"/app"}, MountNS: 9, OOMScoreAdj: &adj}
	argv, all, fd, err := helperArgs(spec, []uintptr{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "spec")
	defer f.Close()
	if !slices.Equal(argv, []string{stage2Name, "3"}) || !slices.Equal(all, []uintptr{0, 1, 2, uintptr(fd), 9}) {
		t.Errorf("helper arguments %q and files %v, want the spec's fd 3 and the namespace's 9 after it", argv, all)
	}
	var got launch.Spec
	if err := json.NewDecoder(f).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.MountNS != 4 || spec.MountNS != 9 {
		t.Errorf("helper's spec names namespace fd %d (caller's spec now %d), want 4 (9)", got.MountNS, spec.MountNS)
	}
}
