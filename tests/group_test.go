package tests

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// Ids no account on the host has: the test's saturn group, a member of
// it and a user outside it. The kernel checks permissions by number.
const (
	groupTestGID = 47311
	memberUID    = 47312
	outsiderUID  = 47313
)

// asUser runs saturn with args as uid (its own gid, and groups), in e.
func (e *env) asUser(uid uint32, groups []uint32, args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: groups}}
	cmd.Env = append(os.Environ(), "HOME=/")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

// reachable lets other users walk down to path (t.TempDir's are 0700).
func reachable(t *testing.T, path string) {
	t.Helper()
	for p := path; p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestGroupModel: after dist/setup-data-dir.sh, a user in the saturn group
// lists pods, reads their status, lists images and fetches one, without
// root; a user outside it can do none of it; root's pods run from what a
// member fetched, and rendered trees stay out of members' reach.
func TestGroupModel(t *testing.T) {
	if _, err := user.LookupGroupId(strconv.Itoa(groupTestGID)); err == nil {
		t.Fatalf("gid %d is taken on this host; the test needs a free one", groupTestGID)
	}
	e := newEnv(t)
	setup := exec.Command(filepath.Join(testimg.ModuleRoot(), "dist", "setup-data-dir.sh"), e.Dir)
	setup.Env = append(os.Environ(), "SATURN_GROUP="+strconv.Itoa(groupTestGID))
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("setup-data-dir.sh: %v\n%s", err, out)
	}
	for _, p := range []string{e.Dir, e.LocalConfig, e.SystemConfig, e.UserConfig} {
		reachable(t, p)
	}
	bb := testimg.Busybox(t, testimg.Options{})
	ta := testimg.TestApp(t, testimg.Options{Name: "example.com/fetched-by-member"})
	reachable(t, ta)

	// Root's pods: one exited, one running.
	r, exitedUUID := podRun(t, e, bb, "--exec=/bin/true")
	if r.Code != 0 {
		t.Fatalf("root's pod: %s", r)
	}
	bg := s1Start(t, e, "ready", testimg.TestApp(t, testimg.Options{}), "--exec=/testapp", "--", "wait-signal")

	member := []uint32{groupTestGID}
	for _, args := range [][]string{{"list"}, {"list", "--full"}, {"status", exitedUUID}, {"status", bg.uuid}, {"image", "list"}} {
		r := e.asUser(memberUID, member, args...)
		if r.Code != 0 {
			t.Errorf("member: saturn %s: %s", strings.Join(args, " "), r)
		}
	}
	if out := e.asUser(memberUID, member, "list", "--no-legend").Stdout; !strings.Contains(out, "running") || !strings.Contains(out, "exited") {
		t.Errorf("member's list shows not both pods:\n%s", out)
	}
	if out := e.asUser(memberUID, member, "status", bg.uuid).Stdout; !strings.Contains(out, "state=running") {
		t.Errorf("member's status of the running pod:\n%s", out)
	}
	r = e.asUser(memberUID, member, "fetch", "--insecure-options=image", ta)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "sha512-") {
		t.Fatalf("member's fetch: %s", r)
	}
	if out := e.asUser(memberUID, member, "image", "list").Stdout; !strings.Contains(out, "example.com/fetched-by-member") {
		t.Errorf("member's image list lacks what it fetched:\n%s", out)
	}
	// Root runs what the member fetched.
	if r, _ := podRun(t, e, "--pull-policy=never", "example.com/fetched-by-member", "--exec=/testapp", "--", "exit", "3"); r.Code != 3 {
		t.Errorf("root's pod of the member's image: %s", r)
	}
	// Running pods stays root's, and so do the rendered trees.
	if r := e.asUser(memberUID, member, "run", "--insecure-options=image", "--net=none", bb); r.Code == 0 {
		t.Errorf("member ran a pod: %s", r)
	}
	trees, _ := filepath.Glob(filepath.Join(e.Dir, "tree", "*"))
	if len(trees) == 0 {
		t.Fatal("no rendered trees to check")
	}
	if r := e.asUser(memberUID, member, "image", "render", "example.com/fetched-by-member", t.TempDir()); r.Code == 0 {
		t.Errorf("member rendered an image: %s", r)
	}

	for _, args := range [][]string{{"list"}, {"status", exitedUUID}, {"image", "list"}, {"fetch", "--insecure-options=image", ta}} {
		r := e.asUser(outsiderUID, nil, args...)
		if r.Code != 254 || !strings.Contains(r.Stderr, "permission denied") {
			t.Errorf("outsider: saturn %s: %s; want exit 254, permission denied", strings.Join(args, " "), r)
		}
	}
	e.mustSaturn("stop", bg.uuid)
	bg.wait(t)
}
