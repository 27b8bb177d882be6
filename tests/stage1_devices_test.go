package tests

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// devicesScript makes a device node with /dev/null's numbers (so a
// failing test touches no disk) in each directory it is given and tries
// to open it, then uses the pod's own nodes.
const devicesScript = `for d in "$@"; do
	n=${d%/}/made-null
	if ! mknod "$n" c 1 3 2>/dev/null; then echo "$d: mknod refused"; continue; fi
	if out=$( { echo x > "$n"; } 2>&1 ); then echo "$d: opens"; else echo "$d: ${out##*: }"; fi
done
echo x > /dev/null && echo null works
head -c 4 /dev/zero | od -An -tx1 | tr -d ' \n'; echo
head -c 4 /dev/urandom | wc -c
[ -c /dev/tty ] && echo tty is a device
touch /rootfile 2>/dev/null && echo rootfs writable || echo rootfs read-only`

// Apps keep CAP_MKNOD (appc's default set) and saturn has no device
// cgroup: a device node an app makes in its rootfs, its /tmp, the pod's
// /dev, /dev/shm, an empty volume or a host volume must not open, with or
// without overlays, while the pod's own nodes work and --readonly-rootfs
// still holds.
func TestStage1AppDeviceNodesDoNotOpen(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{Modify: func(m *schema.ImageManifest) {
		m.App.MountPoints = []types.MountPoint{{Name: "scratch", Path: "/scratch"}}
	}})
	const refused = "Permission denied"
	common := []string{"/dev: " + refused, "/dev/shm: " + refused, "/scratch: " + refused, "/hostdir: " + refused,
		"null works", "00000000", "4", "tty is a device"}
	for _, tc := range []struct {
		name   string
		before []string
		app    []string
		want   []string
	}{
		{"overlay", nil, nil,
			append([]string{"/: " + refused, "/tmp: " + refused}, append(common, "rootfs writable")...)},
		{"no-overlay", []string{"--no-overlay"}, nil,
			append([]string{"/: " + refused, "/tmp: " + refused}, append(common, "rootfs writable")...)},
		// A read-only rootfs comes with a writable tmpfs /tmp, nodev.
		{"overlay-readonly", nil, []string{"--readonly-rootfs"},
			append([]string{"/: mknod refused", "/tmp: " + refused}, append(common, "rootfs read-only")...)},
		{"no-overlay-readonly", []string{"--no-overlay"}, []string{"--readonly-rootfs"},
			append([]string{"/: mknod refused", "/tmp: " + refused}, append(common, "rootfs read-only")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := devicesOpenIn(t)
			args := append(slices.Clone(tc.before), "--volume=scratch,kind=empty", "--volume=hostdir,kind=host,source="+host, bb)
			args = append(append(args, tc.app...), "--mount=volume=hostdir,target=/hostdir", "--exec=/bin/sh", "--", "-c", devicesScript,
				"sh", "/", "/tmp", "/dev", "/dev/shm", "/scratch", "/hostdir")
			r, _ := s1Run(t, e, args...)
			if r.Code != 0 {
				t.Fatalf("saturn run: %s", r)
			}
			if got := s1Lines(r.Stdout, "busybox"); !slices.Equal(got, tc.want) {
				t.Errorf("printed %q, want %q", got, tc.want)
			}
		})
	}
}

// devicesOpenIn returns a new directory on a file system where device
// nodes open (not nodev), or the test would prove nothing.
func devicesOpenIn(t *testing.T) string {
	dir := t.TempDir()
	probe := dir + "/probe"
	if err := unix.Mknod(probe, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(probe, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("%s is on a nodev file system: %v", dir, err)
	}
	f.Close()
	return dir
}

// openPty returns a new pseudo-terminal's master and its terminal.
func openPty(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptmx, tty
}

// Started from a terminal, an app of an --interactive pod reaches it
// through /dev/tty and /dev/console (binds on the pod's nodev /dev),
// while a node it makes there still does not open.
func TestStage1InteractiveTerminalDevices(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	ptmx, tty := openPty(t)
	script := `echo tty-works > /dev/tty; echo console-works > /dev/console
mknod /dev/made-null c 1 3 || echo mknod refused
if out=$( { echo x > /dev/made-null; } 2>&1 ); then echo made node opens; else echo "made node: ${out##*: }"; fi`
	cmd := e.command("run", "--insecure-options=image", "--stage1-path="+stage1Image("stage1-nspawn"), "--net=none",
		"--interactive", bb, "--exec=/bin/sh", "--", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	out := make(chan string, 1)
	go func() {
		// Reading the master ends with EIO once the last holder of the
		// terminal is gone.
		b, _ := io.ReadAll(ptmx)
		out <- string(b)
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("saturn run: %v", err)
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatal("saturn run --interactive still running after a minute")
	}
	var got string
	select {
	case got = <-out:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal is still held after the pod exited")
	}
	lines := strings.Split(strings.ReplaceAll(got, "\r", ""), "\n")
	for _, want := range []string{"tty-works", "console-works", "made node: Permission denied"} {
		if !slices.Contains(lines, want) {
			t.Errorf("terminal output %q lacks %q", got, want)
		}
	}
}

// An app root that escapes its chroot lands in the stage1 rootfs: the
// /proc there must be restricted as the apps' own, or
// /proc/sys/kernel/core_pattern would run a program on the host.
// --disable-paths lifts it for both.
func TestStage1ProcRestrictedOutsideApps(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	for _, tc := range []struct {
		flags      []string
		restricted bool
	}{{nil, true}, {[]string{"--insecure-options=image,paths"}, false}} {
		bg := s1Start(t, e, "ready", append(tc.flags, ta, "--exec=/testapp", "--", "wait-signal")...)
		pid := statusMap(e.mustSaturn("status", bg.uuid))["pid"]
		b, err := os.ReadFile("/proc/" + pid + "/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		// (/proc/sysrq-trigger, restricted too, is not on every kernel.)
		for _, target := range []string{"/proc/sys", "/proc/fs", "/opt/stage2/testapp/rootfs/proc/sys"} {
			ro, found := false, false
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) > 5 && f[4] == target {
					found, ro = true, slices.Contains(strings.Split(f[5], ","), "ro")
				}
			}
			if found != tc.restricted || ro != tc.restricted {
				t.Errorf("flags %q: %s mounted %v, read-only %v; want %v", tc.flags, target, found, ro, tc.restricted)
			}
		}
		e.mustSaturn("stop", bg.uuid)
		bg.wait(t)
	}
}
