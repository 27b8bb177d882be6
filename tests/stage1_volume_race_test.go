package tests

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// nestedVolumeArgs runs busybox with the host volume outer at /data and
// inner at /data/sub/inner: the second mount point is looked up inside
// the first, a host directory other host users may write.
func nestedVolumeArgs(bb, outer, inner string) []string {
	return []string{"--volume=outer,kind=host,source=" + outer, "--volume=inner,kind=host,source=" + inner,
		bb, "--mount=volume=outer,target=/data", "--mount=volume=inner,target=/data/sub/inner",
		"--exec=/bin/sh", "--", "-c", "cat /data/sub/inner/marker"}
}

// checkUntouched fails the test if anything was made in outside.
func checkUntouched(t *testing.T, outside, when string) {
	t.Helper()
	if ents, err := os.ReadDir(outside); err != nil || len(ents) != 0 {
		t.Fatalf("%s: the host directory %s, outside the pod, holds %v (%v)", when, outside, ents, err)
	}
}

// A symlink in a host volume to a host directory is followed inside the
// app's root when a nested volume is mounted through it: the mount point
// is made in the app's rootfs, nothing in the host directory.
func TestStage1NestedVolumeThroughSymlink(t *testing.T) {
	e := newEnv(t)
	outer, inner, outside := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(inner, "marker"), []byte("inner\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(outer, "sub")); err != nil {
		t.Fatal(err)
	}
	bb := testimg.Busybox(t, testimg.Options{})
	r, _ := s1Run(t, e, nestedVolumeArgs(bb, outer, inner)...)
	if r.Code != 0 {
		t.Fatalf("saturn run: %s", r)
	}
	if got := s1Lines(r.Stdout, "busybox"); !slices.Equal(got, []string{"inner"}) {
		t.Errorf("the app read %q through the symlink, want the inner volume's marker", got)
	}
	checkUntouched(t, outside, "after the run")
}

// A writer of a host volume races the mount setup of a nested volume,
// swapping a directory on the mount point's path for a symlink to a
// host directory and back as fast as it can. A pod may fail to start,
// but nothing may ever be made (or removed, or mounted) in the host
// directory: every step of the setup works on the directory it
// resolved, never on a path walked again.
func TestStage1NestedVolumeSymlinkRace(t *testing.T) {
	e := newEnv(t)
	outer, inner, outside := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(inner, "marker"), []byte("inner\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub, link := filepath.Join(outer, "sub"), filepath.Join(outer, "link")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	stop := swapLoop(t, sub, link)
	defer stop()
	bb := testimg.Busybox(t, testimg.Options{})
	ok := 0
	for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline); {
		if r, _ := s1Run(t, e, nestedVolumeArgs(bb, outer, inner)...); r.Code == 0 {
			ok++
		}
		checkUntouched(t, outside, "while racing")
	}
	stop()
	checkUntouched(t, outside, "after racing")
	t.Logf("%d pods started while racing", ok)
}

// swapLoop exchanges the names a and b (a directory and a symlink)
// atomically, over and over, until the returned func is called.
func swapLoop(t *testing.T, a, b string) func() {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("exchange %s and %s: %v", a, b, err)
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}
