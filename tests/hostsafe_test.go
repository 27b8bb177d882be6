package tests

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// An image's device nodes and setuid files must not reach host users:
// image extract and render leave them out unless --same-permissions asks,
// and the store's own trees, which keep them, are out of host users'
// reach.

// nobody is the unprivileged host user the attacks run as.
const nobody = 65534

// hostileACI ships what an unprivileged host user would love to find:
// world-writable nodes for the disk of the host's root filesystem and for
// the console's screen (/dev/vcs), a setuid-root shell (with a hard link)
// and a setgid file.
func hostileACI(t *testing.T) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	major, minor := int64(unix.Major(st.Dev)), int64(unix.Minor(st.Dev))
	return rawACI(t, []tarEntry{
		{hdr: tar.Header{Name: "manifest", Typeflag: tar.TypeReg}, body: `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/hostile"}`},
		{hdr: tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755}},
		{hdr: tar.Header{Name: "rootfs/dev/", Typeflag: tar.TypeDir, Mode: 0o755}},
		{hdr: tar.Header{Name: "rootfs/dev/sda", Typeflag: tar.TypeBlock, Mode: 0o666, Devmajor: major, Devminor: minor}},
		{hdr: tar.Header{Name: "rootfs/dev/vcs", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 7, Devminor: 0}},
		{hdr: tar.Header{Name: "rootfs/dev/sda-link", Typeflag: tar.TypeLink, Linkname: "rootfs/dev/sda"}},
		{hdr: tar.Header{Name: "rootfs/bin/", Typeflag: tar.TypeDir, Mode: 0o755}},
		{hdr: tar.Header{Name: "rootfs/bin/rootshell", Typeflag: tar.TypeReg, Mode: 0o4755}, body: "#!/bin/sh\n"},
		{hdr: tar.Header{Name: "rootfs/bin/rootshell2", Typeflag: tar.TypeLink, Linkname: "rootfs/bin/rootshell"}},
		{hdr: tar.Header{Name: "rootfs/bin/groupfile", Typeflag: tar.TypeReg, Mode: 0o2755}, body: "x"},
		{hdr: tar.Header{Name: "rootfs/shared/", Typeflag: tar.TypeDir, Mode: 0o2775}},
	})
}

// asNobody runs name with args as the unprivileged host user and returns
// its combined output and error.
func asNobody(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// reachableDir is a temp dir that every host user can reach, as the
// operator's output directory of an extract may well be.
func reachableDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImageExtractRenderLeaveOutDevicesAndSetuid(t *testing.T) {
	e := newEnv(t)
	e.fetchOne(hostileACI(t))
	for _, verb := range []string{"extract", "render"} {
		t.Run(verb, func(t *testing.T) {
			out := filepath.Join(reachableDir(t), "out")
			r := e.saturn("image", verb, "example.com/hostile", out)
			if r.Code != 0 {
				t.Fatalf("image %s: %s", verb, r)
			}
			root := filepath.Join(out, "rootfs")
			for _, dev := range []string{"dev/sda", "dev/vcs", "dev/sda-link"} {
				if fi, err := os.Lstat(filepath.Join(root, dev)); err == nil {
					t.Errorf("%s: %s is on the host as %v", verb, dev, fi.Mode())
				}
			}
			// The attacker: a host user reads the host console's screen
			// through the node (on a filesystem without nodev, as / here).
			if msg, err := asNobody("/bin/busybox", "dd", "if="+filepath.Join(root, "dev/vcs"), "of=/dev/null", "count=1"); err == nil {
				t.Errorf("%s: an unprivileged host user read the host console's screen through the image's node: %s", verb, msg)
			}
			for _, f := range []string{"bin/rootshell", "bin/rootshell2", "bin/groupfile"} {
				fi, err := os.Stat(filepath.Join(root, f))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || fi.Mode().Perm() != 0o755 {
					t.Errorf("%s: %s has mode %v, want 0755 without setuid/setgid", verb, f, fi.Mode())
				}
			}
			if fi, err := os.Stat(filepath.Join(root, "shared")); err != nil || fi.Mode()&os.ModeSetgid == 0 {
				t.Errorf("%s: a setgid directory (group inheritance, no privilege) lost its bit: %v %v", verb, fi, err)
			}
			if r.Stderr != "" {
				t.Errorf("%s without --same-permissions warned: %s", verb, r.Stderr)
			}

			// --same-permissions keeps them, as tar's does, with a warning.
			kept := filepath.Join(t.TempDir(), "kept")
			r = e.saturn("image", verb, "--same-permissions", "example.com/hostile", kept)
			if r.Code != 0 || !strings.Contains(r.Stderr, "warning: --same-permissions") {
				t.Fatalf("image %s --same-permissions: want success with a warning: %s", verb, r)
			}
			if fi, err := os.Lstat(filepath.Join(kept, "rootfs/dev/sda")); err != nil || fi.Mode()&os.ModeDevice == 0 {
				t.Errorf("%s --same-permissions: dev/sda %v, %v; want the node", verb, fi, err)
			}
			if fi, err := os.Stat(filepath.Join(kept, "rootfs/bin/rootshell")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
				t.Errorf("%s --same-permissions: rootshell %v, %v; want setuid", verb, fi, err)
			}
		})
	}
}

// The store's trees and the pods keep the image as it is (apps see its
// nodes on nodev mounts); no host user reaches them.
func TestStoreTreesUnreachableToHostUsers(t *testing.T) {
	e := newEnv(t)
	id := e.fetchOne(hostileACI(t))
	uuid := strings.TrimSpace(e.mustSaturn("prepare", "--quiet", id, "--exec=/bin/rootshell"))
	nodes, _ := filepath.Glob(filepath.Join(e.Dir, "tree", "*", "rootfs", "dev", "sda"))
	shells, _ := filepath.Glob(filepath.Join(e.Dir, "tree", "*", "rootfs", "bin", "rootshell"))
	if len(nodes) != 1 || len(shells) != 1 {
		t.Fatalf("the tree store does not hold the image as it is: nodes %v, shells %v", nodes, shells)
	}
	if fi, err := os.Lstat(shells[0]); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("the store's tree lost the setuid bit: %v %v", fi, err)
	}
	pods, _ := filepath.Glob(filepath.Join(e.Dir, "pods", "prepared", uuid+"*", "pod"))
	if len(pods) != 1 {
		t.Fatalf("no prepared pod manifest for %s", uuid)
	}
	// The dir itself may be anyone's (--dir=/tmp/x): what saturn makes
	// below it must not be.
	if err := os.Chmod(e.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{nodes[0], shells[0], pods[0]} {
		if msg, err := asNobody("/bin/busybox", "cat", p); err == nil || !strings.Contains(msg, "Permission denied") {
			t.Errorf("an unprivileged host user reached %s: %v %s", p, err, msg)
		}
	}
}
