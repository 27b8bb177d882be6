package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// TestRunRerendersTamperedTree: pods start from rendered trees that the
// store checks by their recorded stats (not by rehashing) once a full
// check has vouched for them. A file rewritten in place with its old
// size and mtime restored must still be caught, and the tree rendered
// again before a pod uses it; --insecure-options=ondisk skips the check.
func TestRunRerendersTamperedTree(t *testing.T) {
	e := newEnv(t)
	img := testimg.Busybox(t, testimg.Options{Files: map[string]string{"etc/msg": "original"}})
	id := e.fetchOne(img)
	cat := func(extra ...string) string {
		t.Helper()
		args := append([]string{"run", "--insecure-options=image", "--net=none"}, extra...)
		return e.mustSaturn(append(args, id, "--exec=/bin/cat", "--", "/etc/msg")...)
	}
	if out := cat(); !strings.Contains(out, "original") {
		t.Fatalf("first run printed %q", out)
	}
	msgs, err := filepath.Glob(filepath.Join(e.Dir, "tree", "*", "rootfs", "etc", "msg"))
	if err != nil || len(msgs) != 1 {
		t.Fatalf("rendered trees holding etc/msg: %v, %v", msgs, err)
	}
	msg := msgs[0]
	// Past the store's racy window, a full check records the stats that
	// later checks compare.
	time.Sleep(1500 * time.Millisecond)
	if out := cat(); !strings.Contains(out, "original") {
		t.Fatalf("second run printed %q", out)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(msg))), "stat")); err != nil {
		t.Fatalf("no stat record after a full check: %v", err)
	}
	tamper := func() {
		t.Helper()
		fi, err := os.Stat(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(msg, []byte("tampered"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(msg, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	tamper()
	if out := cat(); !strings.Contains(out, "original") || strings.Contains(out, "tampered") {
		t.Fatalf("run after tampering printed %q, want the tree rendered again", out)
	}
	if b, err := os.ReadFile(msg); err != nil || string(b) != "original" {
		t.Fatalf("tree file after re-render: %q, %v", b, err)
	}
	// Without the check the tampered tree is used as it is, which shows
	// the runs above really went through the check.
	time.Sleep(1500 * time.Millisecond)
	cat()
	tamper()
	if out := cat("--insecure-options=image,ondisk"); !strings.Contains(out, "tampered") {
		t.Fatalf("run with ondisk checks off printed %q, want the tampered file", out)
	}
}
