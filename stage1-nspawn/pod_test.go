package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/stage2"
)

// Two apps of a pod share the PID, UTS and IPC namespaces (none of them
// the host's) but neither their mount namespaces nor their root
// filesystems.
func TestAppsShareNamespaces(t *testing.T) {
	// b sets its trap before it publishes its pid, so a's SIGTERM cannot
	// arrive before b handles it.
	b := `trap 'echo got term; exit 0' TERM; echo $$ > /shared/b.pid; while :; do sleep 0.05; done`
	a := `until [ -s /shared/b.pid ]; do sleep 0.05; done
b=$(cat /shared/b.pid)
[ -d /proc/$b ] && echo "sees b"
echo "init=$(cat /proc/1/comm)"
echo "host=$(hostname)"
for ns in pid uts ipc mnt; do echo "$ns $(readlink /proc/self/ns/$ns) $(readlink /proc/$b/ns/$ns)"; done
test -e /only-b && echo "sees b's rootfs"
kill -TERM $b`
	shared := func(ra *schema.RuntimeApp) { ra.Mounts = []schema.Mount{{Volume: "shared", Path: "/shared"}} }
	p := newPod(t, []testApp{
		{name: "a", exec: sh(a), pod: shared},
		{name: "b", exec: sh(b), pod: shared, files: map[string]string{"only-b": "x"}},
	}, types.Volume{Name: "shared", Kind: "empty", Mode: ptr("0755"), UID: ptr(0), GID: ptr(0)})
	r := p.run(t)
	if r.code != 0 {
		t.Fatalf("code %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	lines := appLines(r.stdout, "a")
	if len(lines) < 3 || lines[0] != "sees b" || lines[1] != "init=init" || lines[2] != "host=rkt-"+p.uuid {
		t.Errorf("app a printed %q, want it to see b and PID 1 (init) in its PID namespace and hostname rkt-%s", lines, p.uuid)
	}
	want := map[string]bool{"pid": true, "uts": true, "ipc": true, "mnt": true}
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && want[f[0]]:
			delete(want, f[0])
			host, _ := os.Readlink("/proc/self/ns/" + f[0])
			switch {
			case f[0] == "mnt" && (f[1] == f[2] || f[1] == host || f[2] == host):
				t.Errorf("mnt namespace: a %s, b %s, host %s; want each app its own", f[1], f[2], host)
			case f[0] != "mnt" && (f[1] != f[2] || f[1] == host):
				t.Errorf("%s namespace: a %s, b %s, host %s; want a == b != host", f[0], f[1], f[2], host)
			}
		case l == "sees b's rootfs":
			t.Error("app a sees app b's rootfs")
		}
	}
	if len(want) != 0 {
		t.Errorf("no namespace lines for %v; stdout:\n%s", want, r.stdout)
	}
	if got := appLines(r.stdout, "b"); !slices.Equal(got, []string{"got term"}) {
		t.Errorf("app b printed %q", got)
	}
}

func TestAppEnvironment(t *testing.T) {
	p := newPod(t, []testApp{{name: "envy", exec: []string{"/testapp", "env"}, image: func(a *types.App) {
		a.Environment.Set("FOO", "bar baz")
	}}})
	// The app's HOME comes from its user, never from the caller's.
	t.Setenv("HOME", "/host-home")
	r := p.run(t, "--mds-token=secret")
	if r.code != 0 {
		t.Fatalf("code %d; stderr:\n%s", r.code, r.stderr)
	}
	env := appLines(r.stdout, "envy")
	for _, want := range []string{"PATH=" + stage2.DefaultPath, "AC_APP_NAME=envy", "FOO=bar baz", "AC_METADATA_URL=http://169.254.169.255/secret",
		"HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/sh"} {
		if !slices.Contains(env, want) {
			t.Errorf("app environment lacks %q: %q", want, env)
		}
	}
	for _, e := range env {
		if e == "HOME=/host-home" || strings.HasPrefix(e, "RKT_LOCK_FD=") {
			t.Errorf("host variable leaked into the app: %s", e)
		}
	}
	file := p.file(t, "stage1/rootfs/rkt/env/envy")
	if !strings.Contains(file, "FOO=bar baz\n") || !strings.Contains(file, "AC_APP_NAME=envy\n") {
		t.Errorf("rkt/env/envy = %q", file)
	}
}

func TestUserGroupByNameAndWorkingDir(t *testing.T) {
	p := newPod(t, []testApp{{name: "who", exec: sh("/testapp id; /testapp cwd"), image: func(a *types.App) {
		a.User, a.Group = "tester", "extra"
		a.SupplementaryGIDs = []int{1000, 65534}
		a.WorkingDirectory = "/var/work/here"
	}}})
	r := p.run(t)
	if r.code != 0 {
		t.Fatalf("code %d; stderr:\n%s", r.code, r.stderr)
	}
	got := appLines(r.stdout, "who")
	want := []string{"uid=1000 gid=1001 groups=1000,65534", "/var/work/here"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Pods the stage1 cannot run are refused with a one-line error before
// anything starts: no pid file, no app status.
func TestBadPodsRefused(t *testing.T) {
	tests := []struct {
		name string
		app  testApp
		vols []types.Volume
		want string
	}{
		{"missing executable", testApp{name: "x", exec: []string{"/bin/nope"}}, nil, `executable "/bin/nope" not found in the image`},
		{"unknown user", testApp{name: "x", image: func(a *types.App) { a.User = "ghost" }}, nil, `"ghost" not found in the image's /etc/passwd`},
		{"unknown group", testApp{name: "x", image: func(a *types.App) { a.Group = "ghosts" }}, nil, `"ghosts" not found in the image's /etc/group`},
		{"undeclared volume", testApp{name: "x", pod: func(ra *schema.RuntimeApp) {
			ra.Mounts = []schema.Mount{{Volume: "nope", Path: "/mnt"}}
		}}, nil, `mount of undeclared volume "nope"`},
		{"missing host source", testApp{name: "x", pod: func(ra *schema.RuntimeApp) {
			ra.Mounts = []schema.Mount{{Volume: "v", Path: "/mnt"}}
		}}, []types.Volume{{Name: "v", Kind: "host", Source: "/nonexistent/saturn"}}, "source /nonexistent/saturn: no such file or directory"},
		{"two volumes on one path", testApp{name: "x", pod: func(ra *schema.RuntimeApp) {
			ra.Mounts = []schema.Mount{{Volume: "v", Path: "/mnt"}, {Volume: "w", Path: "/mnt/"}}
		}}, []types.Volume{{Name: "v", Kind: "host", Source: "/tmp"}, {Name: "w", Kind: "host", Source: "/tmp"}}, "volumes v and w are both mounted on /mnt"},
		{"volume on root", testApp{name: "x", pod: func(ra *schema.RuntimeApp) {
			ra.Mounts = []schema.Mount{{Volume: "v", Path: "/"}}
		}}, []types.Volume{{Name: "v", Kind: "host", Source: "/tmp"}}, "volume v cannot be mounted on /"},
		{"missing pre-start handler", testApp{name: "x", image: func(a *types.App) {
			a.EventHandlers = []types.EventHandler{{Name: "pre-start", Exec: []string{"/bin/nothere"}}}
		}}, nil, `pre-start handler: executable "/bin/nothere" not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPod(t, []testApp{tc.app}, tc.vols...)
			r := p.run(t)
			checkRefused(t, p, r, tc.want)
		})
	}
}

func checkRefused(t *testing.T, p *testPod, r result, want string) {
	t.Helper()
	if r.code != exitStage1 || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("code %d stderr %q; want %d and one line containing %q", r.code, r.stderr, exitStage1, want)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "pid")); err == nil {
		t.Error("pod started (pid file written) despite the bad input")
	}
}

func TestUnknownVolumeKindRefused(t *testing.T) {
	p := newPod(t, []testApp{{name: "x"}})
	b, err := os.ReadFile(filepath.Join(p.dir, "pod"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `"volumes":null`, `"volumes":[{"name":"v","kind":"nfs","source":"/x"}]`, 1)
	if s == string(b) {
		s = strings.Replace(string(b), `"apps":`, `"volumes":[{"name":"v","kind":"nfs","source":"/x"}],"apps":`, 1)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "pod"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, p, p.run(t), "unrecognized volume kind")
}

func TestBadFlagsRefused(t *testing.T) {
	p := newPod(t, []testApp{{name: "x"}})
	for flag, want := range map[string]string{
		"--net=a,a":                             "network a given twice",
		"--net-bandwidth=1M":                    "need a contained network",
		"--dns-conf-mode=resolv=fake":           "--dns-conf-mode: resolv=fake",
		"--private-users=100000":                "user namespaces are not supported",
		"--hostname=" + strings.Repeat("h", 65): "not a valid host name",
	} {
		r := runCmd(t, p.entry("init", "--net=none", flag, p.uuid))
		checkRefused(t, p, r, want)
	}
}

func TestVolumes(t *testing.T) {
	rw, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "data"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yes := true
	script := `echo written > /rw/out && echo rw ok
cat /ro/data
touch /ro/nope 2>/dev/null || echo ro refused
echo shared > /shared/msg
grep -q ' /extra ' /proc/self/mountinfo && echo extra mounted`
	p := newPod(t, []testApp{
		{name: "writer", exec: sh(script), image: func(a *types.App) {
			a.MountPoints = []types.MountPoint{{Name: "rw", Path: "/rw"}, {Name: "ro", Path: "/ro"}, {Name: "shared", Path: "/shared"}}
		}, pod: func(ra *schema.RuntimeApp) {
			ra.Mounts = []schema.Mount{{Volume: "extra", Path: "/extra"}}
		}},
		{name: "reader", exec: sh("until [ -s /data/msg ]; do sleep 0.05; done; cat /data/msg"), pod: func(ra *schema.RuntimeApp) {
			ra.Mounts = []schema.Mount{{Volume: "shared", Path: "/data"}}
		}},
	},
		types.Volume{Name: "rw", Kind: "host", Source: rw},
		types.Volume{Name: "ro", Kind: "host", Source: ro, ReadOnly: &yes},
		types.Volume{Name: "shared", Kind: "empty", Mode: ptr("0777"), UID: ptr(0), GID: ptr(0)},
		types.Volume{Name: "extra", Kind: "empty", Mode: ptr("0755"), UID: ptr(0), GID: ptr(0)},
	)
	r := p.run(t)
	if r.code != 0 {
		t.Fatalf("code %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got, want := appLines(r.stdout, "writer"), []string{"rw ok", "from host", "ro refused", "extra mounted"}; !slices.Equal(got, want) {
		t.Errorf("writer printed %q, want %q", got, want)
	}
	if got := appLines(r.stdout, "reader"); !slices.Equal(got, []string{"shared"}) {
		t.Errorf("reader printed %q, want [shared]", got)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "written\n" {
		t.Errorf("host rw volume: %q %v", b, err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestReadOnlyRootFS(t *testing.T) {
	p := newPod(t, []testApp{{name: "ro", exec: sh("touch /newfile 2>/dev/null && echo writable || echo read-only"), pod: func(ra *schema.RuntimeApp) {
		ra.ReadOnlyRootFS = true
	}}})
	r := p.run(t)
	if got := appLines(r.stdout, "ro"); r.code != 0 || !slices.Equal(got, []string{"read-only"}) {
		t.Fatalf("code %d, printed %q; stderr:\n%s", r.code, got, r.stderr)
	}
}

// A failing app ends the pod: the others are stopped and the pod exits
// with the failing app's code.
func TestFailingAppStopsPod(t *testing.T) {
	p := newPod(t, []testApp{
		{name: "waiter", exec: []string{"/testapp", "wait-signal"}},
		{name: "failer", exec: sh("until pidof testapp >/dev/null; do sleep 0.05; done; exit 7")},
	})
	r := p.run(t)
	if r.code != 7 {
		t.Fatalf("code %d, want 7; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if s := p.file(t, "stage1/rootfs/rkt/status/failer"); s != "7" {
		t.Errorf("failer status %q", s)
	}
	if s := p.file(t, "stage1/rootfs/rkt/status/waiter"); s != "0" && s != "143" {
		t.Errorf("waiter status %q, want 0 or 143", s)
	}
}

func TestHostnameDNSAndNetNone(t *testing.T) {
	script := `hostname; cat /etc/hosts | grep -c myhost; ls /sys/class/net; cat /sys/class/net/lo/flags`
	p := newPod(t, []testApp{{name: "n", exec: sh(script)}})
	r := p.run(t, "--hostname=myhost")
	got := appLines(r.stdout, "n")
	if want := []string{"myhost", "1", "lo", "0x9"}; r.code != 0 || !slices.Equal(got, want) {
		t.Fatalf("code %d, printed %q, want %q; stderr:\n%s", r.code, got, want, r.stderr)
	}
	hostHosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	p2 := newPod(t, []testApp{{name: "h", exec: []string{"/bin/cat", "/etc/hosts"}}})
	r = p2.run(t, "--dns-conf-mode=hosts=host,resolv=none")
	if got := strings.Join(appLines(r.stdout, "h"), "\n"); r.code != 0 || got != strings.TrimRight(string(hostHosts), "\n") {
		t.Errorf("with hosts=host the app's /etc/hosts is %q, want the host's %q", got, hostHosts)
	}
}

func TestCapabilitiesNoNewPrivsOOMScore(t *testing.T) {
	status := "grep -E '^(CapBnd|CapAmb|CapEff|NoNewPrivs):' /proc/self/status; cat /proc/self/oom_score_adj"
	p := newPod(t, []testApp{
		{name: "root", exec: sh(status)},
		{name: "user", exec: sh(status), image: func(a *types.App) {
			a.User, a.Group = "tester", "testers"
			a.Isolators = append(a.Isolators, isolator(t, types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NET_BIND_SERVICE","CAP_KILL"]}`),
				isolator(t, types.LinuxNoNewPrivilegesName, `true`), isolator(t, types.LinuxOOMScoreAdjName, `321`))
		}},
	})
	r := p.run(t)
	if r.code != 0 {
		t.Fatalf("code %d; stderr:\n%s", r.code, r.stderr)
	}
	var def uint64
	for _, c := range stage2.DefaultCaps {
		def |= 1 << c
	}
	retained := uint64(1<<10 | 1<<5)
	hostAdj, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	wantRoot := []string{fmt.Sprintf("CapEff:\t%016x", def), fmt.Sprintf("CapBnd:\t%016x", def), "CapAmb:\t0000000000000000", "NoNewPrivs:\t0", strings.TrimSpace(string(hostAdj))}
	wantUser := []string{fmt.Sprintf("CapEff:\t%016x", retained), fmt.Sprintf("CapBnd:\t%016x", retained), fmt.Sprintf("CapAmb:\t%016x", retained), "NoNewPrivs:\t1", "321"}
	if got := appLines(r.stdout, "root"); !slices.Equal(got, wantRoot) {
		t.Errorf("root app: %q, want %q", got, wantRoot)
	}
	if got := appLines(r.stdout, "user"); !slices.Equal(got, wantUser) {
		t.Errorf("user app: %q, want %q", got, wantUser)
	}
}

func isolator(t *testing.T, name, value string) types.Isolator {
	t.Helper()
	var iso types.Isolator
	if err := iso.UnmarshalJSON([]byte(fmt.Sprintf(`{"name":%q,"value":%s}`, name, value))); err != nil {
		t.Fatal(err)
	}
	return iso
}

func TestEventHandlers(t *testing.T) {
	p := newPod(t, []testApp{{name: "ev", exec: sh("cat /pre; echo main > /main"), image: func(a *types.App) {
		a.EventHandlers = []types.EventHandler{
			{Name: "pre-start", Exec: sh("echo pre > /pre")},
			{Name: "post-stop", Exec: sh("cat /main")},
		}
	}}})
	r := p.run(t)
	if got := appLines(r.stdout, "ev"); r.code != 0 || !slices.Equal(got, []string{"pre", "main"}) {
		t.Fatalf("code %d, printed %q; stderr:\n%s", r.code, got, r.stderr)
	}
}

func TestNetHostKeepsHostNetwork(t *testing.T) {
	p := newPod(t, []testApp{{name: "n", exec: sh("readlink /proc/self/ns/net; ls /sys/class/net | sort")}})
	r := p.run(t, "--net=host")
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{host}
	for _, e := range ents {
		want = append(want, e.Name())
	}
	if got := appLines(r.stdout, "n"); r.code != 0 || !slices.Equal(got, want) {
		t.Errorf("code %d, app saw %q; want the host's %q", r.code, got, want)
	}
}

func TestProcPathsRestricted(t *testing.T) {
	script := `awk '$5 ~ /^\/proc\// { print $5, substr($6, 1, 2) }' /proc/self/mountinfo`
	p := newPod(t, []testApp{{name: "p", exec: sh(script)}})
	var want []string
	for _, n := range append(append([]string{}, readOnlyProc...), maskedProc...) {
		if _, err := os.Lstat("/proc/" + n); err == nil {
			want = append(want, "/proc/"+n+" ro")
		}
	}
	if len(want) == 0 {
		t.Fatal("host /proc has none of the restricted paths")
	}
	r := p.run(t)
	if got := appLines(r.stdout, "p"); r.code != 0 || !slices.Equal(got, want) {
		t.Errorf("code %d, app's /proc submounts %q, want %q; stderr:\n%s", r.code, got, want, r.stderr)
	}
	r = p.run(t, "--disable-paths")
	if got := appLines(r.stdout, "p"); r.code != 0 || len(got) != 0 {
		t.Errorf("with --disable-paths: code %d, app's /proc submounts %q, want none", r.code, got)
	}
}

func TestIPCParentAndInteractiveNeedsOneApp(t *testing.T) {
	p := newPod(t, []testApp{{name: "i", exec: []string{"/bin/readlink", "/proc/self/ns/ipc"}}})
	host, err := os.Readlink("/proc/self/ns/ipc")
	if err != nil {
		t.Fatal(err)
	}
	if r := p.run(t, "--ipc=parent"); r.code != 0 || !slices.Equal(appLines(r.stdout, "i"), []string{host}) {
		t.Errorf("--ipc=parent: code %d, app's ipc ns %q, want the host's %s", r.code, appLines(r.stdout, "i"), host)
	}
	if r := p.run(t); r.code != 0 || slices.Equal(appLines(r.stdout, "i"), []string{host}) {
		t.Errorf("default ipc: code %d, app's ipc ns %q, want a new one", r.code, appLines(r.stdout, "i"))
	}
	two := newPod(t, []testApp{{name: "a"}, {name: "b"}})
	checkRefused(t, two, two.run(t, "--interactive"), "--interactive needs exactly one app, the pod has 2")
}

// A failing pre-start handler fails its app before it starts, and so the
// pod, with the handler's exit code.
func TestPreStartFailureFailsPod(t *testing.T) {
	p := newPod(t, []testApp{{name: "ev", exec: sh("echo main ran"), image: func(a *types.App) {
		a.EventHandlers = []types.EventHandler{{Name: "pre-start", Exec: sh("echo pre; exit 3")}}
	}}})
	r := p.run(t)
	if got := appLines(r.stdout, "ev"); r.code != 3 || !slices.Equal(got, []string{"pre"}) {
		t.Fatalf("code %d, printed %q; want 3 and only the handler's line; stderr:\n%s", r.code, got, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "stage1/rootfs/rkt/supervisor-status")); err == nil {
		t.Error("supervisor-status written although an app never started")
	}
}

// Stdio modes stage1-nspawn does not provide (log for stdin), and
// isolators of the whole pod, are named in a warning; null, log, tty and
// stream, what it does, are not.
func TestStdioModesAndPodIsolatorsWarned(t *testing.T) {
	anns := func(kv ...string) func(*schema.RuntimeApp) {
		return func(ra *schema.RuntimeApp) {
			for i := 0; i < len(kv); i += 2 {
				ra.Annotations.Set(types.ACIdentifier(kv[i]), kv[i+1])
			}
		}
	}
	p := newPod(t, []testApp{
		{name: "a", pod: anns("coreos.com/rkt/stage2/stdin", "log", "coreos.com/rkt/stage2/stdout", "tty", "coreos.com/rkt/stage2/stderr", "log")},
		{name: "b", pod: anns("coreos.com/rkt/stage2/stdin", "null", "coreos.com/rkt/stage2/stdout", "null", "coreos.com/rkt/stage2/stderr", "stream")},
	})
	// resource/cpu is enforced pod-wide (a cgroup limit), oom-score-adj
	// only per app.
	p.pm.Isolators = types.Isolators{isolator(t, types.ResourceCPUName, `{"limit":"500m"}`),
		isolator(t, types.LinuxOOMScoreAdjName, `100`)}
	p.writeManifest(t)
	r := p.run(t)
	if r.code != 0 {
		t.Fatalf("pod: code %d stderr %s", r.code, r.stderr)
	}
	want := []string{
		"stage1: warning: pod isolator os/linux/oom-score-adj is not enforced by stage1-nspawn",
		"stage1: warning: app a: stdin mode log is not supported, using null",
	}
	if got := strings.Split(strings.TrimSpace(r.stderr), "\n"); !slices.Equal(got, want) {
		t.Errorf("stderr lines\n%q\nwant\n%q", got, want)
	}
}
