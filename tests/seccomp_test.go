package tests

import (
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// runProbe runs testapp with args in a pod with the run flags before and
// the app flags after the image, and returns its output.
func runProbe(t *testing.T, e *env, img string, before, after []string, args ...string) string {
	t.Helper()
	cmd := append(append([]string{}, before...), img)
	cmd = append(append(cmd, after...), "--exec=/testapp", "--")
	r, _ := podRun(t, e, append(cmd, args...)...)
	if r.Code != 0 {
		t.Fatalf("saturn run %q: %s", args, r)
	}
	return r.Stdout
}

// wantLines fails the test unless out holds each of want as (the end of)
// one of its lines: the pod prefixes app output with "app[pid]: ".
func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, l := range strings.Split(out, "\n") {
			found = found || strings.HasSuffix(l, w)
		}
		if !found {
			t.Errorf("%s: no line %q in:\n%s", what, w, out)
		}
	}
}

// TestSeccompDefaultFilter: an app without a seccomp isolator runs under
// saturn's default filter: the kernel keyring (host root's keyring for
// uid 0), new user namespaces, all refused with EPERM; ordinary calls
// pass. --insecure-options=seccomp leaves the app unfiltered.
func TestSeccompDefaultFilter(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	out := runProbe(t, e, ta, nil, nil, "cat", "/proc/self/status")
	wantLines(t, "default filter", out, "Seccomp:\t2", "NoNewPrivs:\t0")
	out = runProbe(t, e, ta, nil, nil, "syscall", "keyctl", "add_key", "request_key", "clone-newuser", "socket", "getpid")
	wantLines(t, "default filter", out, "keyctl: EPERM", "add_key: EPERM", "request_key: EPERM",
		"clone-newuser: EPERM", "socket: OK", "getpid: OK")

	off := []string{"--insecure-options=image,seccomp"}
	out = runProbe(t, e, ta, off, nil, "cat", "/proc/self/status")
	wantLines(t, "--insecure-options=seccomp", out, "Seccomp:\t0")
	out = runProbe(t, e, ta, off, nil, "syscall", "keyctl", "request_key")
	wantLines(t, "--insecure-options=seccomp", out, "keyctl: OK", "request_key: ENOKEY")
}

// TestSeccompOperatorSets: --seccomp replaces the default filter with the
// operator's set, and a refused call returns the errno it names (rkt
// ignored a custom errno); without errno the app is killed with SIGSYS.
// A set that refuses what Go's fork needs (chroot) is installed by the
// stage2 helper right before exec, and a non-root app then gets
// no_new_privs, without which the kernel refuses its filter.
func TestSeccompOperatorSets(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	for _, tc := range []struct {
		name  string
		app   []string
		probe []string
		want  []string
	}{
		{"remove with errno", []string{"--seccomp=mode=remove,errno=ENOTSUP,socket"},
			[]string{"syscall", "socket", "keyctl"}, []string{"socket: ENOTSUP", "keyctl: OK"}},
		{"retain with errno", []string{"--seccomp=mode=retain,errno=EHWPOISON,@docker/default-whitelist"},
			[]string{"syscall", "keyctl", "socket"}, []string{"keyctl: EHWPOISON", "socket: OK"}},
		{"remove through the helper", []string{"--seccomp=mode=remove,errno=EDQUOT,chroot,socket"},
			[]string{"syscall", "socket", "getpid"}, []string{"socket: EDQUOT", "getpid: OK"}},
		{"helper status root", []string{"--seccomp=mode=remove,errno=EDQUOT,chroot"},
			[]string{"cat", "/proc/self/status"}, []string{"Seccomp:\t2", "NoNewPrivs:\t0"}},
		{"helper status non-root", []string{"--seccomp=mode=remove,errno=EDQUOT,chroot", "--user=1000"},
			[]string{"cat", "/proc/self/status"}, []string{"Seccomp:\t2", "NoNewPrivs:\t1"}},
		// The distinct errno tells the filter's refusal from the
		// kernel's EPERM for a chrooted caller.
		{"unshare refused refuses clone's namespaces", []string{"--seccomp=mode=remove,errno=EHWPOISON,unshare"},
			[]string{"syscall", "clone-newuser", "getpid"}, []string{"clone-newuser: EHWPOISON", "getpid: OK"}},
		{"retain @appc.io/all opts out", []string{"--seccomp=mode=retain,@appc.io/all"},
			[]string{"syscall", "keyctl"}, []string{"keyctl: OK"}},
		{"direct status non-root", []string{"--seccomp=mode=remove,errno=EDQUOT,socket", "--user=1000"},
			[]string{"cat", "/proc/self/status"}, []string{"Seccomp:\t2", "NoNewPrivs:\t0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantLines(t, tc.name, runProbe(t, e, ta, nil, tc.app, tc.probe...), tc.want...)
		})
	}
	r, _ := podRun(t, e, ta, "--seccomp=mode=remove,socket", "--exec=/testapp", "--", "syscall", "socket")
	if r.Code != 128+31 || strings.Contains(r.Stdout, "socket:") {
		t.Errorf("socket refused without errno: exit %d, want %d (SIGSYS):\n%s", r.Code, 128+31, r)
	}
}

// TestSeccompRefusedNames: an unknown system call, group or errno is
// refused by stage0 before any pod directory exists.
func TestSeccompRefusedNames(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	for _, tc := range []struct{ flag, want string }{
		{"--seccomp=mode=remove,socket,no_such_call", `unknown system call "no_such_call"`},
		{"--seccomp=mode=retain,@rkt/no-such-group", `unknown seccomp group "@rkt/no-such-group"`},
		{"--seccomp=mode=remove,errno=ENOSUCH,socket", `unknown errno "ENOSUCH"`},
		{"--seccomp=mode=remove,@appc.io/all", "no meaning in a remove set"},
	} {
		r := e.failSaturn(tc.want, "run", "--insecure-options=image", "--net=none", ta, tc.flag)
		if r.Code != 254 || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
			t.Errorf("%s: exit %d, want 254 and one line:\n%s", tc.flag, r.Code, r.Stderr)
		}
	}
	if dirs := podDirs(t, e); len(dirs) != 0 {
		t.Errorf("pods left: %q", dirs)
	}
}

// TestSeccompEnterAndHandlers: every process of an app runs under its
// filter: its event handlers and what saturn enter starts (rkt's enter
// ran outside it: CVE-2019-10145).
func TestSeccompEnterAndHandlers(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{Modify: func(m *schema.ImageManifest) {
		m.App.EventHandlers = []types.EventHandler{{Name: "pre-start", Exec: types.Exec{"/testapp", "syscall", "socket", "keyctl"}}}
	}})
	bg := s1Start(t, e, "keyctl: ENOTSUP", ta, "--seccomp=mode=remove,errno=ENOTSUP,socket,keyctl", "--exec=/testapp", "--", "wait-signal")
	wantLines(t, "pre-start handler", bg.out.String(), "socket: ENOTSUP", "keyctl: ENOTSUP")
	e.mustSaturn("status", "--wait-ready=1m", bg.uuid)
	r := e.saturn("enter", bg.uuid, "/testapp", "syscall", "socket", "keyctl", "getpid")
	if r.Code != 0 {
		t.Fatalf("enter: %s", r)
	}
	wantLines(t, "entered command", r.Stdout, "socket: ENOTSUP", "keyctl: ENOTSUP", "getpid: OK")
	r = e.saturn("enter", bg.uuid, "/testapp", "cat", "/proc/self/status")
	wantLines(t, "entered command", r.Stdout, "Seccomp:\t2")
	e.mustSaturn("stop", bg.uuid)
	bg.wait(t)
}

// TestSeccompImageSets: an image's seccomp set only narrows saturn's
// default filter. A retain set allowing more (the keyring here) or none
// at all is a privilege the image would give itself: refused before the
// pod exists unless the operator grants it (--seccomp, or
// --insecure-options=seccomp). An image's remove set is read as the
// default filter less its calls, never as rkt's blacklist, so the
// keyring stays refused (with the set's errno).
func TestSeccompImageSets(t *testing.T) {
	e := newEnv(t)
	wide := testimg.TestApp(t, testimg.Options{Name: "example.com/wide-filter",
		Modify: withIsolator(t, types.LinuxSeccompRetainSetName, `{"set":["@rkt/default-whitelist","keyctl"]}`)})
	r := e.saturn("run", "--insecure-options=image", "--net=none", wide, "--exec=/testapp", "--", "syscall", "keyctl")
	wantRefusedBeforePod(t, e, r, "image example.com/wide-filter", types.LinuxSeccompRetainSetName, "allows keyctl beyond", "--seccomp")
	off := testimg.TestApp(t, testimg.Options{Name: "example.com/no-filter",
		Modify: withIsolator(t, types.LinuxSeccompRetainSetName, `{"set":["@appc.io/all"]}`)})
	r = e.saturn("run", "--insecure-options=image", "--net=none", off, "--exec=/testapp", "--", "syscall", "keyctl")
	wantRefusedBeforePod(t, e, r, "image example.com/no-filter", "turns the seccomp filter off")

	out := runProbe(t, e, wide, nil, []string{"--seccomp=mode=retain,@rkt/default-whitelist,keyctl"}, "syscall", "keyctl")
	wantLines(t, "operator's --seccomp", out, "keyctl: OK")
	out = runProbe(t, e, wide, []string{"--insecure-options=image,seccomp"}, nil, "syscall", "keyctl")
	wantLines(t, "--insecure-options=seccomp", out, "keyctl: OK")

	narrow := testimg.TestApp(t, testimg.Options{Name: "example.com/narrow-filter",
		Modify: withIsolator(t, types.LinuxSeccompRemoveSetName, `{"set":["socket"],"errno":"ENOTSUP"}`)})
	out = runProbe(t, e, narrow, nil, nil, "syscall", "socket", "keyctl", "getpid")
	wantLines(t, "image remove set", out, "socket: ENOTSUP", "keyctl: ENOTSUP", "getpid: OK")
}
