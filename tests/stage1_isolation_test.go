package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// Tests of what an app of a stage1-nspawn pod can reach beyond its own
// rootfs, driven as an attacker inside the pod would: root in the app,
// default capabilities, a static probe doing the system calls.

// podRootfs returns the host path of a pod's stage1 rootfs, while the
// pod's directory exists.
func podRootfs(t *testing.T, e *env, uuid string) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(e.Dir, "pods", "*", uuid))
	if len(dirs) != 1 {
		t.Fatalf("pod %s: directories %v", uuid, dirs)
	}
	return filepath.Join(dirs[0], "stage1", "rootfs")
}

// An app root keeps CAP_SYS_CHROOT (appc's default set), which is enough
// to leave a chroot: chroot into a subdirectory and climb out with "..".
// Each app is pivoted into its own mount namespace, so the climb ends at
// the app's own root: neither the stage1 rootfs nor another app's rootfs
// is there to read or write.
func TestStage1ChrootEscapeStaysInApp(t *testing.T) {
	e := newEnv(t)
	probe := testimg.TestApp(t, testimg.Options{})
	victim := testimg.Busybox(t, testimg.Options{Name: "example.com/victim", Files: map[string]string{"victim-marker": "x"}})
	r, uuid := s1Run(t, e, probe, "--exec=/testapp", "--", "escape",
		"/opt/stage2/victim/rootfs/pwned", "/rkt/pwned", "/escaped",
		"---", victim, "--exec=/bin/true")
	if r.Code != 0 {
		t.Fatalf("saturn run: %s", r)
	}
	lines := s1Lines(r.Stdout, "testapp")
	var root []string
	for _, l := range lines {
		if names, ok := strings.CutPrefix(l, "root: "); ok {
			root = strings.Fields(names)
		}
	}
	if root == nil {
		t.Fatalf("the probe did not escape:\n%s", r)
	}
	for _, stage1 := range []string{"opt", "rkt", "init"} {
		if slices.Contains(root, stage1) {
			t.Errorf("after the escape / holds %q of the stage1 rootfs: %q", stage1, root)
		}
	}
	if !slices.Contains(root, "testapp") {
		t.Errorf("after the escape / is not the app's own root: %q", root)
	}
	for _, w := range []string{"/opt/stage2/victim/rootfs/pwned", "/rkt/pwned"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "cannot write "+w+":") }) {
			t.Errorf("the probe could write %s: %q", w, lines)
		}
	}
	if slices.Contains(lines, "proc1: readable") {
		t.Errorf("the probe reads PID 1's root through /proc/1/root: %q", lines)
	}
	s1 := podRootfs(t, e, uuid)
	for _, p := range []string{"opt/stage2/victim/rootfs/pwned", "rkt/pwned", "escaped"} {
		if _, err := os.Lstat(filepath.Join(s1, p)); err == nil {
			t.Errorf("the probe wrote %s in the stage1 rootfs", p)
		}
	}
	// What "/" held is the probe's own rootfs: that is where its write went.
	if _, err := os.Lstat(filepath.Join(s1, "opt/stage2/testapp/rootfs/escaped")); err != nil {
		t.Errorf("the probe's write to /escaped is not in its own rootfs: %v", err)
	}
}

// Each app has a mount namespace of its own, as under rkt. An app granted
// CAP_SYS_ADMIN (and the default set, so that it may reach the other
// app's /proc/PID/root) mounts a tmpfs in its own rootfs, which works,
// and one on the other app's /tmp, which the other app must not see.
func TestStage1AppMountsStayInApp(t *testing.T) {
	e := newEnv(t)
	mounter := testimg.TestApp(t, testimg.Options{})
	other := testimg.Busybox(t, testimg.Options{Name: "example.com/other"})
	look := `echo $$ > /shared/pid; until [ -e /shared/done ]; do sleep 0.05; done; cat /tmp/marker; grep -c ' /tmp ' /proc/self/mountinfo; true`
	r, _ := s1Run(t, e, "--volume=shared,kind=empty", "--mount=volume=shared,target=/shared",
		mounter, "--caps-retain=CAP_SYS_ADMIN,"+defaultCaps, "--exec=/testapp", "--", "mount-beside", "/shared/pid", "/shared/done",
		"---", other, "--exec=/bin/sh", "--", "-c", look)
	if r.Code != 0 {
		t.Fatalf("saturn run: %s", r)
	}
	if got := s1Lines(r.Stdout, "testapp"); len(got) != 2 || got[0] != "own: mounted" {
		t.Fatalf("the mounter printed %q, want it to mount in its own rootfs\n%s", got, r)
	}
	if got := s1Lines(r.Stdout, "other"); !slices.Equal(got, []string{"0"}) {
		t.Errorf("the other app printed %q, want only 0 (no marker, no mount on /tmp)", got)
	}
}

// defaultCaps is appc's default capability set, as --caps-retain takes it.
const defaultCaps = "CAP_AUDIT_WRITE,CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FSETID,CAP_FOWNER,CAP_KILL,CAP_MKNOD,CAP_NET_RAW," +
	"CAP_NET_BIND_SERVICE,CAP_SETUID,CAP_SETGID,CAP_SETPCAP,CAP_SETFCAP,CAP_SYS_CHROOT"

// Kernel keyrings are not namespaced: without a session keyring of its
// own, an app would possess the keys of whoever started the pod (host
// root's session keyring), and read, link or revoke them. Each app and
// each entered command joins a new session keyring: the host's keys are
// neither found nor readable. (The user keyring of uid 0 is another
// matter: the default seccomp filter blocks the keyring calls.)
func TestStage1SessionKeyringIsTheAppsOwn(t *testing.T) {
	// Never unlocked: this thread joins a session keyring of the test's
	// own, which saturn inherits, and ends with the test.
	runtime.LockOSThread()
	if _, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0); errno != 0 {
		t.Fatalf("join a session keyring: %v", errno)
	}
	host, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	if err != nil {
		t.Fatal(err)
	}
	const desc = "saturn-test-secret"
	key, err := unix.AddKey("user", desc, []byte("host secret"), unix.KEY_SPEC_SESSION_KEYRING)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	probe := []string{"keyring", strconv.Itoa(key), desc}
	check := func(who string, lines []string) {
		t.Helper()
		want := []string{"search: required key not available", "read: permission denied"}
		if len(lines) != 3 || lines[0] == "session: "+strconv.Itoa(host) || !strings.HasPrefix(lines[0], "session: ") || !slices.Equal(lines[1:], want) {
			t.Errorf("%s printed %q; want a session keyring other than the host's %d, then %q", who, lines, host, want)
		}
	}
	// saturn's default seccomp filter refuses keyctl altogether
	// (TestSeccompDefaultFilter); the session keyring must be the app's
	// own without it too.
	noFilter := "--insecure-options=image,seccomp"
	r, _ := s1Run(t, e, append([]string{noFilter, ta, "--exec=/testapp", "--"}, probe...)...)
	if r.Code != 0 {
		t.Fatalf("saturn run: %s", r)
	}
	check("the app", s1Lines(r.Stdout, "testapp"))
	bg := s1Start(t, e, "ready", noFilter, ta, "--exec=/testapp", "--", "wait-signal")
	r = e.saturn(append([]string{"enter", bg.uuid, "/testapp"}, probe...)...)
	if r.Code != 0 {
		t.Fatalf("saturn enter: %s", r)
	}
	check("the entered command", strings.Split(strings.TrimSpace(r.Stdout), "\n"))
	e.mustSaturn("stop", bg.uuid)
	bg.wait(t)
}

// capLine returns the "NAME:\tHEX" line of /proc/<pid>/status for a set
// of capabilities.
func capLine(name string, caps ...int) string {
	var m uint64
	for _, c := range caps {
		m |= 1 << uint(c)
	}
	return fmt.Sprintf("%s:\t%016x", name, m)
}

// The pod's PID 1 holds, once the pod is set up, only what it uses to
// start and signal the apps' processes (stage1-nspawn/README.md says
// which and why), plus, in its permitted set only, what the apps are
// granted; never CAP_NET_ADMIN, CAP_SYS_MODULE and the like, which it
// held from the host. A non-root app still gets its ambient capabilities.
func TestStage1PID1Capabilities(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	pid1 := []int{unix.CAP_SYS_ADMIN, unix.CAP_SYS_CHROOT, unix.CAP_SETPCAP, unix.CAP_SETUID, unix.CAP_SETGID,
		unix.CAP_KILL, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH}
	defaults := []int{unix.CAP_AUDIT_WRITE, unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FSETID, unix.CAP_FOWNER,
		unix.CAP_KILL, unix.CAP_MKNOD, unix.CAP_NET_RAW, unix.CAP_NET_BIND_SERVICE, unix.CAP_SETUID, unix.CAP_SETGID,
		unix.CAP_SETPCAP, unix.CAP_SETFCAP, unix.CAP_SYS_CHROOT}
	show := `grep -E '^Cap(Prm|Eff):' /proc/1/status; grep -E '^Cap(Eff|Amb):' /proc/self/status`
	for _, tc := range []struct {
		name  string
		flags []string
		prm   []int // PID 1's permitted set beyond pid1
		own   []string
	}{
		{"root app", nil, defaults, []string{capLine("CapEff", defaults...), capLine("CapAmb")}},
		{"non-root app", []string{"--user=tester", "--caps-retain=CAP_NET_ADMIN,CAP_NET_BIND_SERVICE"},
			[]int{unix.CAP_NET_ADMIN, unix.CAP_NET_BIND_SERVICE},
			[]string{capLine("CapEff", unix.CAP_NET_ADMIN, unix.CAP_NET_BIND_SERVICE), capLine("CapAmb", unix.CAP_NET_ADMIN, unix.CAP_NET_BIND_SERVICE)}},
	} {
		args := append(append([]string{bb}, tc.flags...), "--exec=/bin/sh", "--", "-c", show)
		r, _ := s1Run(t, e, args...)
		if r.Code != 0 {
			t.Fatalf("%s: saturn run: %s", tc.name, r)
		}
		want := append([]string{capLine("CapPrm", append(slices.Clone(pid1), tc.prm...)...), capLine("CapEff", pid1...)}, tc.own...)
		if got := s1Lines(r.Stdout, "busybox"); !slices.Equal(got, want) {
			t.Errorf("%s: PID 1's permitted and effective sets, then the app's effective and ambient sets:\n%q\nwant\n%q", tc.name, got, want)
		}
	}
}
