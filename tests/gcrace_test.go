package tests

import (
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// A run holds the images it resolved until its trees are rendered and
// held: image gc with no grace period, in a loop beside it, waits for it
// rather than deleting an image between the run's resolving and its
// rendering ("not found in store").
func TestRunRacingImageGC(t *testing.T) {
	e := newEnv(t)
	img := testimg.TestApp(t, testimg.Options{Exec: []string{"/testapp", "exit", "0"}})
	stop := e.imageGCLoop()
	failed := 0
	for i := range 25 {
		// By file: a run after a gc imports the image again, so only the
		// race can make it fail.
		r, _ := podRun(t, e, img)
		if r.Code != 0 {
			failed++
			t.Errorf("run %d beside image gc failed: %s", i, r)
			if failed > 2 {
				break
			}
		}
	}
	if stop() == 0 {
		t.Fatal("no image gc ran beside the runs")
	}
}

// status racing rm answers for the pod as it was or says there is no pod
// any more; it never reports a pod without a manifest.
func TestStatusRacingRm(t *testing.T) {
	e := newEnv(t)
	img := testimg.TestApp(t, testimg.Options{Exec: []string{"/testapp", "exit", "0"}})
	for i := range 15 {
		r, uuid := podRun(t, e, img)
		if r.Code != 0 || uuid == "" {
			t.Fatalf("run %d: %s", i, r)
		}
		rm := e.command("rm", uuid)
		if err := rm.Start(); err != nil {
			t.Fatal(err)
		}
		for {
			st := e.saturn("status", uuid)
			if st.Code != 0 && !strings.Contains(st.Stderr, "no pod found") {
				t.Errorf("status beside rm: %s", st)
			}
			if st.Code != 0 {
				break
			}
		}
		if err := rm.Wait(); err != nil {
			t.Fatalf("rm %s: %v", uuid, err)
		}
	}
}
