package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/mountinfo"
	"github.com/saturn-pods/saturn/tests/testimg"
)

// The cgroup tests assert what limits do to an app, on this host and, in
// tests/cgroupvm, on pure cgroup v2 (the VM runs the tests named
// TestCgroup*).

// podCgroupDirs returns the pod's cgroup directory in every cgroup
// hierarchy mounted on the host, from the path stage1 recorded.
func podCgroupDirs(t *testing.T, e *env, uuid string) []string {
	t.Helper()
	var rec []byte
	for _, st := range []string{"run", "exited-garbage", "garbage"} {
		if b, err := os.ReadFile(filepath.Join(e.Dir, "pods", st, uuid, "subcgroup")); err == nil {
			rec = b
			break
		}
	}
	path := strings.TrimSpace(string(rec))
	if !strings.HasSuffix(path, "/saturn-"+uuid) {
		t.Fatalf("pod %s recorded cgroup %q", uuid, path)
	}
	ms, err := mountinfo.Mounts()
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, m := range ms {
		if (m.FSType == "cgroup" || m.FSType == "cgroup2") && m.Root == "/" {
			dirs = append(dirs, filepath.Join(m.Point, path))
		}
	}
	return dirs
}

// existing returns those of dirs that exist.
func existing(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// noPodCgroups fails unless the pod's cgroups are gone from every
// hierarchy.
func noPodCgroups(t *testing.T, dirs []string, when string) {
	t.Helper()
	if left := existing(dirs); len(left) != 0 {
		t.Errorf("cgroups left %s: %q", when, left)
	}
}

func TestCgroupMemoryLimitOOMKillReported(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	r, uuid := podRun(t, e, ta, "--memory=48M", "--exec=/testapp", "--", "alloc", "400")
	if r.Code != 128+int(syscall.SIGKILL) {
		t.Fatalf("an app allocating 400 MiB under --memory=48M exited %d, want 137 (SIGKILL)\n%s", r.Code, r)
	}
	if got := appLines(r.Stdout+r.Stderr, "testapp"); strings.Contains(strings.Join(got, "\n"), "allocated 64 MiB") {
		t.Errorf("the app got past its limit before it was killed: %q", got)
	}
	st := statusMap(e.mustSaturn("status", uuid))
	if n, _ := strconv.Atoi(st["oom-kills-testapp"]); n < 1 {
		t.Errorf("status does not name the OOM-killed app: %v", st)
	}
	var j struct {
		Apps []struct {
			Name     string `json:"name"`
			ExitCode *int   `json:"exit_code"`
			OOMKills uint64 `json:"oom_kills"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(e.mustSaturn("status", "--format=json", uuid)), &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Apps) != 1 || j.Apps[0].OOMKills < 1 || j.Apps[0].ExitCode == nil || *j.Apps[0].ExitCode != 137 {
		t.Errorf("status JSON apps: %+v", j.Apps)
	}
	noPodCgroups(t, podCgroupDirs(t, e, uuid), "after the pod ended")
}

// A limit from the image applies; the command line's wins over it.
func TestCgroupImageLimitAndCommandLineWins(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{Name: "example.com/limited", Exec: []string{"/testapp", "alloc", "96"},
		Modify: func(m *schema.ImageManifest) {
			var iso types.Isolator
			if err := iso.UnmarshalJSON([]byte(`{"name":"resource/memory","value":{"limit":"48M"}}`)); err != nil {
				t.Fatal(err)
			}
			m.App.Isolators = append(m.App.Isolators, iso)
		}})
	if r, _ := podRun(t, e, ta); r.Code != 137 {
		t.Errorf("96 MiB under the image's 48M limit: exit %d, want 137\n%s", r.Code, r)
	}
	if r, _ := podRun(t, e, ta, "--memory=256M"); r.Code != 0 {
		t.Errorf("96 MiB under --memory=256M over the image's 48M: exit %d, want 0\n%s", r.Code, r)
	}
}

func TestCgroupCPUQuota(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	// Two busy threads, a quarter of a CPU between them.
	bg := s1Start(t, e, "cpu-over-wall: ", ta, "--cpu=250m", "--exec=/testapp", "--", "spin", "2", "3", "wait")
	var ratio float64
	for _, l := range s1Lines(bg.out.String(), "testapp") {
		fmt.Sscanf(l, "cpu-over-wall: %f", &ratio)
	}
	// About 0.25: generous bounds, the machine may be busy, and under
	// software emulation (the v2 VM) the guest's clocks count time its
	// virtual CPUs did not get as run time.
	if ratio <= 0.02 || ratio > 0.6 {
		t.Errorf("two spinning threads under --cpu=250m used %.3f of a CPU, want about 0.25\n%s", ratio, bg.out)
	}
	// On a busy machine the threads may get little CPU even without a
	// limit; the kernel's count of periods the quota held them back says
	// the limit is what did.
	if n := throttled(t, e, bg.uuid); n == 0 {
		t.Errorf("the app's cgroup was never throttled (%.3f of a CPU)", ratio)
	}
	e.mustSaturn("stop", "--force", bg.uuid)
	bg.wait(t)
}

// throttled reads how many CFS periods the app testapp of the pod was
// throttled in, from its cgroup's cpu.stat (v1's cpu hierarchy or v2).
func throttled(t *testing.T, e *env, uuid string) uint64 {
	t.Helper()
	for _, d := range podCgroupDirs(t, e, uuid) {
		b, err := os.ReadFile(filepath.Join(d, "apps", "testapp", "cpu.stat"))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "nr_throttled "); ok {
				if n, _ := strconv.ParseUint(v, 10, 64); n > 0 {
					return n
				}
			}
		}
	}
	return 0
}

func TestCgroupForkBombStopsAtPidsLimit(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	bg := s1Start(t, e, "forking", ta, "--exec=/testapp", "--", "fork-bomb")
	// Forks are slow under software emulation (the v2 VM): a hang guard
	// of minutes.
	for deadline := time.Now().Add(5 * time.Minute); !strings.Contains(bg.out.String(), "forked: "); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the fork bomb did not stop within 5 minutes:\n%s", bg.out)
		}
	}
	var n int
	var why string
	for _, l := range s1Lines(bg.out.String(), "testapp") {
		fmt.Sscanf(l, "forked: %d (%s", &n, &why)
	}
	// The pod's default pids limit is 4096 for all its apps, threads
	// included; the probe's own threads take a few. Without a limit the
	// probe stops at 5000.
	if n < 1000 || n >= 4096 || !strings.HasPrefix(why, "resource") {
		t.Errorf("fork bomb forked %d children (%s), want it stopped by the pods limit of 4096 (EAGAIN)\n%s", n, why, bg.out)
	}
	// The host still starts processes.
	if out, err := exec.Command("/bin/sh", "-c", "echo host-fine").Output(); err != nil || string(out) != "host-fine\n" {
		t.Errorf("the host could not start a process while the bomb ran: %v %q", err, out)
	}
	e.mustSaturn("stop", "--force", bg.uuid)
	bg.wait(t)
}

// saturn update lowers a running app's memory limit, and the lower limit
// then bites: the allocation that fitted under the old one is killed.
func TestCgroupUpdateLowersLimit(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	trigger := t.TempDir()
	// 32 MiB, then 32 more once told: 64 fit under 256M, not under 48M.
	bg := s1Start(t, e, "holding 32 MiB", "--volume=trigger,kind=host,source="+trigger,
		ta, "--memory=256M", "--mount=volume=trigger,target=/trigger", "--exec=/testapp", "--", "alloc", "32", "/trigger/go")
	st := statusMap(e.mustSaturn("status", bg.uuid))
	if mem, _ := strconv.ParseUint(st["memory-testapp"], 10, 64); mem < 32<<20 {
		t.Errorf("status shows the app using %q bytes of memory, want at least the 32 MiB it holds: %v", st["memory-testapp"], st)
	}
	if cpu, _ := strconv.ParseUint(st["cpu-testapp"], 10, 64); cpu == 0 {
		t.Errorf("status shows no CPU time used: %v", st)
	}
	e.failSaturn(`no app "nosuch"`, "update", "--app=nosuch", "--memory=48M", bg.uuid)
	e.mustSaturn("update", "--app=testapp", "--memory=48M", bg.uuid)
	if err := os.WriteFile(filepath.Join(trigger, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := bg.wait(t); code != 137 {
		t.Fatalf("after update --memory=48M, growing from 32 to 64 MiB: exit %d, want 137 (OOM kill)\n%s", code, bg.out)
	}
	st = statusMap(e.mustSaturn("status", bg.uuid))
	if st["oom-kills-testapp"] == "" {
		t.Errorf("status after the kill: %v", st)
	}
}

// When saturn run is SIGKILLed, its pod dies with it and cannot remove
// its cgroups; gc does.
func TestCgroupRemovedByGCAfterSIGKILL(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	cmd, uuid := startPod(t, e, ta, "--memory=64M", "--exec=/testapp", "--", "sleep", "600")
	dirs := podCgroupDirs(t, e, uuid)
	if len(existing(dirs)) == 0 {
		t.Fatalf("running pod has none of the cgroups %q", dirs)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if r := e.saturn("status", "--wait=1m", uuid); statusMap(r.Stdout)["state"] != "exited" {
		t.Fatalf("status after SIGKILL: %s", r)
	}
	if len(existing(dirs)) == 0 {
		t.Fatal("cgroups gone before gc: the test shows nothing")
	}
	e.mustSaturn("gc", "--grace-period=0s")
	noPodCgroups(t, dirs, "after gc of a SIGKILLed pod")
}

// An app sees its own cgroup as the root of its cgroup namespace, never a
// path of the host's hierarchy.
func TestCgroupAppInOwnNamespace(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	r, _ := podRun(t, e, ta, "--exec=/testapp", "--", "cat", "/proc/self/cgroup")
	lines := appLines(r.Stdout+r.Stderr, "testapp")
	if r.Code != 0 || len(lines) == 0 {
		t.Fatalf("cat /proc/self/cgroup: %s", r)
	}
	for _, l := range lines {
		if parts := strings.SplitN(l, ":", 3); len(parts) != 3 || parts[2] != "/" {
			t.Errorf("app's /proc/self/cgroup line %q, want its own cgroup as /", l)
		}
	}

	// /sys/fs/cgroup shows the app its own cgroup, read-only: its limit
	// (v2 memory.max, v1 memory/memory.limit_in_bytes), no file of the
	// hierarchy's root (release_agent), no write.
	bb := testimg.Busybox(t, testimg.Options{})
	r, _ = podRun(t, e, bb, "--memory=64M", "--exec=/bin/sh", "--", "-c",
		`cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null
		echo "release_agents: $(find /sys/fs/cgroup -name release_agent | wc -l)"
		for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/memory/cgroup.procs; do
			[ -e $f ] && { echo 1 >$f && echo "wrote $f" || echo "refused $f"; }
		done
		true`)
	out := strings.Join(appLines(r.Stdout+r.Stderr, "busybox"), "\n")
	if r.Code != 0 || !strings.Contains(out, "64000000") {
		t.Errorf("the app does not read its 64M limit in /sys/fs/cgroup:\n%s", r)
	}
	if !strings.Contains(out, "release_agents: 0") || strings.Contains(out, "wrote ") || !strings.Contains(out, "refused ") {
		t.Errorf("the app's /sys/fs/cgroup is not its own cgroup, read-only:\n%s", out)
	}
}

// A limit the kernel cannot enforce refuses the pod, with a clear error.
func TestCgroupUnenforceableLimitRefused(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	r, _ := podRun(t, e, ta, "--cpu=5m")
	if r.Code != 254 || !strings.Contains(r.Stderr, "cpu limit 5m is below the 10m the kernel can enforce") {
		t.Errorf("--cpu=5m: %s", r)
	}
	if strings.Contains(r.Stdout+r.Stderr, "testapp[") {
		t.Errorf("the app ran:\n%s", r)
	}
}

// The v1 release_agent escape: an app the operator gave CAP_SYS_ADMIN
// mounts a v1 hierarchy to reach release_agent, which the kernel runs as
// host root. In its own cgroup namespace the mount shows the app's cgroup
// alone, where there is no release_agent, and no new hierarchy may be
// made.
func TestCgroupReleaseAgentOutOfReach(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{Exec: []string{"/testapp", "caps-escape", "cgroup"}})
	r, _ := podRun(t, e, ta, "--caps-retain=CAP_SYS_ADMIN,CAP_SETPCAP")
	if r.Code != 0 {
		t.Fatalf("probe: %s", r)
	}
	mount, agent := probeSays(r, "cgroup-mount"), probeSays(r, "release_agent")
	if mount == "" {
		t.Fatalf("probe said nothing:\n%s", r)
	}
	if agent == "writable" {
		t.Errorf("an app with CAP_SYS_ADMIN opened release_agent for writing (cgroup-mount: %s)", mount)
	}
	t.Logf("cgroup-mount: %s; release_agent: %s", mount, agent)
}

// --cgroup-parent puts the pod's cgroup below another parent; the app is
// limited there as anywhere.
func TestCgroupParent(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	parent := fmt.Sprintf("/saturn-parent-test-%d", os.Getpid())
	t.Cleanup(func() {
		ms, _ := mountinfo.Mounts()
		for _, m := range ms {
			if m.FSType == "cgroup" || m.FSType == "cgroup2" {
				os.Remove(filepath.Join(m.Point, parent))
			}
		}
	})
	cmd, uuid := startPod(t, e, "--cgroup-parent="+parent, ta, "--memory=64M", "--exec=/testapp", "--", "sleep", "600")
	dirs := existing(podCgroupDirs(t, e, uuid))
	if len(dirs) == 0 {
		t.Fatal("the pod has no cgroup")
	}
	for _, d := range dirs {
		if !strings.Contains(d, parent+"/saturn-"+uuid) {
			t.Errorf("pod cgroup %s is not below %s", d, parent)
		}
	}
	e.mustSaturn("stop", uuid)
	cmd.Wait()
	noPodCgroups(t, dirs, "after the pod below --cgroup-parent ended")
	e.failSaturn("--cgroup-parent", "run", "--insecure-options=image", "--net=none", "--cgroup-parent=/a/../b", ta)
}

// A command started with saturn enter runs in the app's cgroup, under its
// limits, not in stage1's.
func TestCgroupEnterInAppCgroup(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	_, uuid := startPod(t, e, ta, "--memory=64M", "--exec=/testapp", "--", "sleep", "600")
	r := e.saturn("enter", uuid, "/testapp", "cat", "/proc/self/cgroup")
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if parts := strings.SplitN(l, ":", 3); r.Code != 0 || len(parts) != 3 || parts[2] != "/" {
			t.Errorf("entered command in cgroup %q, want the app's own (/ in its namespace)\n%s", l, r)
		}
	}
	limit := e.saturn("enter", uuid, "/testapp", "cat", "/sys/fs/cgroup/memory.max")
	if limit.Code != 0 {
		limit = e.saturn("enter", uuid, "/testapp", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
	}
	if strings.TrimSpace(limit.Stdout) != "64000000" {
		t.Errorf("the entered command does not see its app's limit:\n%s", limit)
	}
	e.mustSaturn("stop", uuid)
}
