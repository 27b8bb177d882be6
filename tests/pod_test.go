package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// Functional tests of the pod commands: prepare, run-prepared, list,
// status, stop, rm, gc, cat-manifest and enter.

func TestPrepareAndRunPrepared(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	bb := testimg.Busybox(t, testimg.Options{})
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	out := e.mustSaturn("prepare", "--insecure-options=image", "--uuid-file-save="+uuidFile,
		ta, "--exec=/testapp", "--", "exit", "5", "---", bb, "--exec=/bin/true")
	uuid := strings.TrimSpace(out)
	if saved, _ := os.ReadFile(uuidFile); string(saved) != uuid || len(uuid) != 36 {
		t.Fatalf("prepare printed %q, saved %q", out, saved)
	}
	if dirs := podDirs(t, e); !slices.Equal(dirs, []string{"prepared/" + uuid}) {
		t.Errorf("pod dirs = %q", dirs)
	}
	if left := mountsUnder(e.Dir); len(left) != 0 {
		t.Errorf("a prepared pod holds mounts: %q", left)
	}
	st := statusMap(e.mustSaturn("status", "--uuid-file="+uuidFile))
	if st["state"] != "prepared" || st["created"] == "" || st["pid"] != "" {
		t.Errorf("prepared status = %v", st)
	}
	e.failSaturn("timed out after 100ms waiting for pod "+uuid+" to be ready", "status", "--wait-ready=100ms", uuid)
	var pm struct {
		Apps []struct{ Name string } `json:"apps"`
	}
	if err := json.Unmarshal([]byte(e.mustSaturn("cat-manifest", "--pretty-print=false", uuid[:8])), &pm); err != nil {
		t.Fatal(err)
	}
	if len(pm.Apps) != 2 || pm.Apps[0].Name != "testapp" || pm.Apps[1].Name != "busybox" {
		t.Errorf("cat-manifest apps = %+v", pm.Apps)
	}
	// Flags the pod cannot run with are refused while it is still
	// prepared, so it can be run again.
	e.failSaturn(`unknown network "nosuch"`, "run-prepared", "--net=nosuch", uuid)
	e.failSaturn("--interactive supports only one app", "run-prepared", "--net=none", "--interactive", uuid)
	if dirs := podDirs(t, e); !slices.Equal(dirs, []string{"prepared/" + uuid}) {
		t.Errorf("pod dirs after refused run-prepared = %q", dirs)
	}
	r := e.saturn("run-prepared", "--net=none", uuid[:8])
	if r.Code != 5 {
		t.Fatalf("run-prepared exited %d, want the app's 5:\n%s", r.Code, r)
	}
	st = statusMap(e.mustSaturn("status", uuid))
	// busybox may be stopped by the failing app ending the pod: only its
	// presence is certain.
	if st["state"] != "exited" || st["app-testapp"] != "5" || st["app-busybox"] == "" {
		t.Errorf("status after run-prepared = %v", st)
	}
	e.failSaturn("not prepared", "run-prepared", "--net=none", uuid)
	if out := e.mustSaturn("cat-manifest", "--uuid-file="+uuidFile); !strings.Contains(out, "\n\t\"apps\": [") {
		t.Errorf("cat-manifest is not pretty-printed by default:\n%s", out)
	}
	if out := e.mustSaturn("rm", "--uuid-file="+uuidFile); strings.TrimSpace(out) != `"`+uuid+`"` {
		t.Errorf("rm printed %q", out)
	}
	if dirs := podDirs(t, e); len(dirs) != 0 {
		t.Errorf("pod dirs after rm: %q", dirs)
	}
	if left := mountsUnder(e.Dir); len(left) != 0 {
		t.Errorf("mounts after rm: %q", left)
	}
}

func TestListFormats(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{Name: "example.com/lister", Version: "2.1"})
	prepared := strings.TrimSpace(e.mustSaturn("prepare", "--insecure-options=image", ta, ta, "--name=second"))
	_, exited := podRun(t, e, ta, "--exec=/testapp", "--", "exit", "0")

	out := e.mustSaturn("list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "UUID APP IMAGE NAME STATE CREATED STARTED NETWORKS" {
		t.Fatalf("list:\n%s", out)
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f[0]) == 8 {
			rows[f[0]] = f
		}
	}
	if f := rows[prepared[:8]]; len(f) < 4 || f[1] != "lister" || f[2] != "example.com/lister:2.1" || f[3] != "prepared" {
		t.Errorf("prepared pod row = %q", f)
	}
	if f := rows[exited[:8]]; len(f) < 4 || f[3] != "exited" {
		t.Errorf("exited pod row = %q", f)
	}

	full := e.mustSaturn("list", "--full", "--no-legend")
	if strings.Contains(full, "UUID") || !strings.Contains(full, prepared) || !strings.Contains(full, "sha512-") {
		t.Errorf("list --full --no-legend:\n%s", full)
	}

	var pods []struct {
		Name     string   `json:"name"`
		State    string   `json:"state"`
		AppNames []string `json:"app_names"`
		Apps     []struct {
			Name     string `json:"name"`
			ExitCode *int   `json:"exit_code"`
			ImageID  string `json:"image_id"`
		} `json:"apps"`
		CreatedAt int64 `json:"created_at"`
	}
	for _, format := range []string{"json", "json-pretty"} {
		if err := json.Unmarshal([]byte(e.mustSaturn("list", "--format="+format)), &pods); err != nil {
			t.Fatalf("list --format=%s: %v", format, err)
		}
		if len(pods) != 2 {
			t.Fatalf("list --format=%s: %d pods", format, len(pods))
		}
	}
	for _, p := range pods {
		switch p.Name {
		case prepared:
			if p.State != "prepared" || !slices.Equal(p.AppNames, []string{"lister", "second"}) || p.CreatedAt == 0 {
				t.Errorf("prepared pod json = %+v", p)
			}
		case exited:
			if p.State != "exited" || len(p.Apps) != 1 || p.Apps[0].ExitCode == nil || *p.Apps[0].ExitCode != 0 {
				t.Errorf("exited pod json = %+v", p)
			}
		default:
			t.Errorf("unknown pod %s in json", p.Name)
		}
	}
	e.failSaturn("invalid --format", "list", "--format=yaml")
	e.mustSaturn("rm", prepared)
}

func TestStatusWaitAndStop(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	_, uuid := startPod(t, e, "--volume=data,kind=empty,mode=0700", ta, "--exec=/testapp", "--mount=volume=data,target=/data", "--", "wait-signal")

	st := statusMap(e.mustSaturn("status", uuid))
	if st["state"] != "running" || st["exited"] != "false" || st["pid"] == "" || st["pid"] == "-1" {
		t.Errorf("running status = %v", st)
	}
	if _, ok := st["app-testapp"]; ok {
		t.Errorf("running pod reports an app exit status: %v", st)
	}
	var js struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(e.mustSaturn("status", "--format=json", uuid)), &js); err != nil || js.State != "running" {
		t.Errorf("status json = %+v, %v", js, err)
	}
	checkAppJSON(t, e, uuid, false)
	r := e.failSaturn("timed out after 200ms waiting for pod "+uuid+" to exit", "status", "--wait=200ms", uuid)
	if strings.Contains(r.Stderr, "deadline") {
		t.Errorf("status --wait timeout leaks the context error:\n%s", r.Stderr)
	}
	e.failSaturn("stop it first", "rm", uuid)

	r = e.saturn("enter", uuid, "/testapp", "hostname")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "rkt-"+uuid {
		t.Errorf("enter hostname: %s", r)
	}
	if r := e.saturn("enter", uuid[:10], "/testapp", "exit", "4"); r.Code != 4 {
		t.Errorf("enter exit code %d, want 4 passed through:\n%s", r.Code, r)
	}
	e.failSaturn(`no app "nope"`, "enter", "--app=nope", uuid)

	if out := e.mustSaturn("stop", uuid); strings.TrimSpace(out) != `"`+uuid+`"` {
		t.Errorf("stop printed %q", out)
	}
	st = statusMap(e.mustSaturn("status", "--wait=1m", uuid))
	if st["state"] != "exited" || st["exited"] != "true" || st["app-testapp"] == "" {
		t.Errorf("status after stop = %v", st)
	}
	// As rkt: stopping a stopped pod says so and succeeds.
	if out := e.mustSaturn("stop", uuid); out != `pod "`+uuid+`" is already stopped`+"\n" {
		t.Errorf("stop of a stopped pod printed %q", out)
	}
	e.failSaturn("not running", "enter", uuid, "/testapp", "env")
	checkAppJSON(t, e, uuid, true)
}

// checkAppJSON checks status --format=json's app entry of a pod started
// by TestStatusWaitAndStop: rkt's API fields, as far as the pod has come.
func checkAppJSON(t *testing.T, e *env, uuid string, exited bool) {
	t.Helper()
	var js struct {
		Apps []struct {
			Name       string `json:"name"`
			State      string `json:"state"`
			CreatedAt  *int64 `json:"created_at"`
			StartedAt  *int64 `json:"started_at"`
			FinishedAt *int64 `json:"finished_at"`
			ExitCode   *int   `json:"exit_code"`
			ImageID    string `json:"image_id"`
			Mounts     []struct {
				Name          string `json:"name"`
				ContainerPath string `json:"container_path"`
				HostPath      string `json:"host_path"`
				ReadOnly      bool   `json:"read_only"`
			} `json:"mounts"`
		} `json:"apps"`
	}
	out := e.mustSaturn("status", "--format=json", uuid)
	if err := json.Unmarshal([]byte(out), &js); err != nil || len(js.Apps) != 1 {
		t.Fatalf("status json: %v\n%s", err, out)
	}
	a := js.Apps[0]
	if a.Name != "testapp" || !strings.HasPrefix(a.ImageID, "sha512-") || a.CreatedAt == nil || a.StartedAt == nil || *a.StartedAt < *a.CreatedAt {
		t.Errorf("app json lacks name, image, created or started: %s", out)
	}
	if exited != (a.FinishedAt != nil) || exited != (a.ExitCode != nil) || (exited && *a.FinishedAt < *a.StartedAt) {
		t.Errorf("app json (exited %t) has finished_at %v, exit_code %v: %s", exited, a.FinishedAt, a.ExitCode, out)
	}
	if want := map[bool]string{false: "running", true: "exited"}[exited]; a.State != want {
		t.Errorf("app state %q, want %q", a.State, want)
	}
	// An exited pod stays in run/ until gc.
	shared := filepath.Join(e.Dir, "pods", "run", uuid, "sharedVolumes", "data")
	if len(a.Mounts) != 1 || a.Mounts[0].Name != "data" || a.Mounts[0].ContainerPath != "/data" || a.Mounts[0].ReadOnly ||
		a.Mounts[0].HostPath != shared {
		t.Errorf("app mounts = %+v, want data on /data from %s", a.Mounts, shared)
	}
}

func TestGCGracePeriod(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	_, uuid := podRun(t, e, ta, "--exec=/testapp", "--", "exit", "2")
	// As rkt's gc: what it moves and keeps on stderr, stdout only for
	// the pods it deletes.
	r := e.saturn("gc", "--grace-period=1h")
	if r.Code != 0 || !strings.Contains(r.Stderr, `moving pod "`+uuid+`" to garbage`) || r.Stdout != "" {
		t.Errorf("first gc: %s", r)
	}
	if dirs := podDirs(t, e); !slices.Equal(dirs, []string{"exited-garbage/" + uuid}) {
		t.Errorf("pod dirs = %q", dirs)
	}
	// A marked pod still answers status during its grace period.
	st := statusMap(e.mustSaturn("status", uuid))
	if st["state"] != "exited garbage" || st["app-testapp"] != "2" {
		t.Errorf("status of marked pod = %v", st)
	}
	r = e.saturn("gc", "--grace-period=1h")
	if r.Code != 0 || r.Stdout != "" || !strings.Contains(r.Stderr, `pod "`+uuid+`" not removed: still within grace period (1h0m0s)`) {
		t.Errorf("gc within the grace period: %s", r)
	}
	out := e.mustSaturn("gc", "--grace-period=0s")
	if !strings.Contains(out, `Garbage collecting pod "`+uuid+`"`) {
		t.Errorf("second gc:\n%s", out)
	}
	if dirs := podDirs(t, e); len(dirs) != 0 {
		t.Errorf("pod dirs after gc: %q", dirs)
	}
	if left := mountsUnder(e.Dir); len(left) != 0 {
		t.Errorf("mounts after gc: %q", left)
	}
}

// TestGCLeftovers: a prepare killed midway (unlocked dir in prepare/) and
// an old embryo are removed; a fresh embryo and a prepared pod are kept.
func TestGCLeftovers(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	prepared := strings.TrimSpace(e.mustSaturn("prepare", "--insecure-options=image", ta))
	aborted := "0a000000-0000-4000-8000-000000000001"
	oldEmbryo := "0a000000-0000-4000-8000-000000000002"
	newEmbryo := "0a000000-0000-4000-8000-000000000003"
	for _, d := range []string{"prepare/" + aborted + "/stage1", "embryo/" + oldEmbryo, "embryo/" + newEmbryo} {
		if err := os.MkdirAll(filepath.Join(e.Dir, "pods", d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(e.Dir, "pods/embryo", oldEmbryo), old, old)
	if st := statusMap(e.mustSaturn("status", aborted)); st["state"] != "aborted prepare" {
		t.Errorf("killed prepare state = %v", st)
	}
	e.mustSaturn("gc")
	got := podDirs(t, e)
	slices.Sort(got)
	if want := []string{"embryo/" + newEmbryo, "prepared/" + prepared}; !slices.Equal(got, want) {
		t.Errorf("pod dirs after gc = %q, want %q", got, want)
	}
	e.mustSaturn("gc", "--expire-prepared=0s")
	if got := podDirs(t, e); !slices.Equal(got, []string{"embryo/" + newEmbryo}) {
		t.Errorf("after --expire-prepared=0s: %q", got)
	}
	os.Remove(filepath.Join(e.Dir, "pods/embryo", newEmbryo))
}

func TestUUIDPrefixes(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	// Seventeen pods must share a first hex digit.
	byFirst := map[byte][]string{}
	var shared []string
	for i := 0; i < 17 && shared == nil; i++ {
		u := strings.TrimSpace(e.mustSaturn("prepare", "--insecure-options=image", ta))
		byFirst[u[0]] = append(byFirst[u[0]], u)
		if len(byFirst[u[0]]) == 2 {
			shared = byFirst[u[0]]
		}
	}
	// rkt's words first, saturn's detail after them.
	r := e.failSaturn("ambiguous uuid, 2 matches", "status", shared[0][:1])
	if !strings.Contains(r.Stderr, shared[0]) || !strings.Contains(r.Stderr, shared[1]) {
		t.Errorf("ambiguity error does not name both pods:\n%s", r.Stderr)
	}
	e.failSaturn("ambiguous uuid", "rm", shared[0][:1])
	e.failSaturn(`no matches found for "ffffffff-ffff"`, "status", "ffffffff-ffff")
	e.failSaturn(`invalid UUID "../../etc"`, "cat-manifest", "../../etc")
	e.mustSaturn("gc", "--expire-prepared=0s")
	if dirs := podDirs(t, e); len(dirs) != 0 {
		t.Errorf("pods left: %q", dirs)
	}
}

// TestConcurrentRunsAndGC: gc running in a loop never takes a pod that is
// being prepared or running; every pod runs to its exit code and the last
// gc leaves nothing.
func TestConcurrentRunsAndGC(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	id := strings.TrimSpace(e.mustSaturn("--insecure-options=image", "fetch", "--full", ta))
	stop := make(chan struct{})
	gcDone := make(chan []string)
	go func() {
		var failures []string
		for {
			select {
			case <-stop:
				gcDone <- failures
				return
			default:
			}
			// Not e.saturn: it may call t.Fatal, which only the test
			// goroutine may.
			if out, err := e.command("gc", "--grace-period=0s").CombinedOutput(); err != nil {
				failures = append(failures, fmt.Sprintf("%v: %s", err, out))
			}
		}
	}()
	const pods = 4
	codes := make(chan string, pods)
	for i := 0; i < pods; i++ {
		go func(i int) {
			cmd := e.command("run", "--net=none", id, "--exec=/testapp", "--", "exit", strconv.Itoa(i))
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != i {
				codes <- fmt.Sprintf("pod %d exited %d:\n%s", i, code, out)
				return
			}
			codes <- ""
		}(i)
	}
	for i := 0; i < pods; i++ {
		if bad := <-codes; bad != "" {
			t.Errorf("a pod did not end with its own exit code:\n%s", bad)
		}
	}
	close(stop)
	if failures := <-gcDone; len(failures) > 0 {
		t.Errorf("gc failed while pods ran:\n%s", failures[0])
	}
	e.mustSaturn("gc", "--grace-period=0s")
	if dirs := podDirs(t, e); len(dirs) != 0 {
		t.Errorf("pods left: %q", dirs)
	}
}

// TestImageGCKeepsPreparedPodTrees: image gc keeps the trees (and images)
// a prepared pod uses, so run-prepared works after it.
func TestImageGCKeepsPreparedPodTrees(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	uuid := strings.TrimSpace(e.mustSaturn("prepare", "--insecure-options=image", ta, "--exec=/testapp", "--", "args", "still-here"))
	e.mustSaturn("image", "gc", "--grace-period=0s")
	r := e.saturn("run-prepared", "--net=none", uuid)
	if r.Code != 0 || !slices.Equal(appLines(r.Stdout+r.Stderr, "testapp"), []string{"still-here"}) {
		t.Errorf("run-prepared after image gc: %s", r)
	}
}
