// Package systemdvm shows saturn under a real systemd: the machines saturn
// is tested on do not run systemd as PID 1, so this test boots Debian with
// systemd as PID 1 under software-emulated qemu (package qemuvm), installs
// saturn there with dist/install.sh and runs the sample units of
// dist/systemd: a Type=notify pod is active only once its app is ready,
// the apps' lines are in the journal, machinectl lists the pod as a
// machine in its own scope, systemctl stop ends the pod cleanly (exit
// status 0, no cgroup or machine left), the socket-activated pod answers
// on its port, the saturn group's members list and fetch without root.
//
// The root file system (rootfs.sh: debootstrap minbase with systemd,
// dbus and systemd-container, as an ext4 image) is built once and cached,
// keyed by its inputs, and booted with snapshot=on; saturn's build and the
// checks (vmtest.sh) go on a second, small disk made for each run.
package systemdvm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/tests/qemuvm"
	"github.com/saturn-pods/saturn/tests/testimg"
)

// vmTimeout is a hang guard: the VM boots in seconds, its checks take a
// few minutes of software emulation on a loaded machine, the first run
// adds debootstrap.
const vmTimeout = 20 * time.Minute

// checks are the names vmtest.sh reports, each of which must say ok.
var checks = []string{
	"install",
	"notify-start", "notify-active", "notify-ready-first", "journal-identifier", "journal-unit", "answers-8081",
	"machinectl-list", "machine-unit", "machine-class", "journal-container", "pod-scope-cgroup",
	"notify-stop", "notify-stopped-clean",
	"socket-start", "socket-not-yet", "answers-8082", "socket-service-active", "socket-stop", "socket-stopped-clean",
	"plain-start", "plain-answers", "plain-stop", "plain-stopped-clean",
	"group-users", "member-list", "member-image-list", "member-fetch", "outsider-refused",
	"gc-service", "gc-timer", "no-warnings",
}

func TestSystemdVM(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("the systemd VM test runs as root (sudo ./build.sh test)")
	}
	kernel := qemuvm.FindKernel(t)
	root := rootImage(t, kernel)
	disk := saturnDisk(t)

	ctx, cancel := context.WithTimeout(context.Background(), vmTimeout)
	defer cancel()
	// One NVMe controller (built into the cloud kernel, unlike virtio),
	// two namespaces in a fixed order: the root, then saturn's disk.
	cmd := qemuvm.Command(ctx, t, kernel, 2048,
		"root=/dev/nvme0n1 rw rootfstype=ext4 console=ttyS0 quiet panic=-1 systemd.show_status=0",
		"-drive", "file="+root+",if=none,id=root,format=raw,snapshot=on",
		"-drive", "file="+disk+",if=none,id=saturn,format=raw,snapshot=on",
		"-device", "nvme,id=nvme0,serial=saturn-vm",
		"-device", "nvme-ns,drive=root,nsid=1",
		"-device", "nvme-ns,drive=saturn,nsid=2")
	logPath := filepath.Join(qemuvm.BuildDir(), "systemdvm.log")
	out := qemuvm.Run(t, cmd, logPath)
	if ctx.Err() != nil {
		t.Fatalf("the VM did not finish within %v; console in %s", vmTimeout, logPath)
	}
	check(t, out, logPath)
}

// rootImage returns the cached root file system, building it first.
func rootImage(t *testing.T, k qemuvm.Kernel) string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(testimg.ModuleRoot(), "tests", "systemdvm", "rootfs.sh"), k.Dir, k.Version)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the VM's root file system (debootstrap, from the mirror apt uses): %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// saturnDisk makes the VM's second disk: saturn's build as build.sh made
// it, dist/ and the checks.
func saturnDisk(t *testing.T) string {
	t.Helper()
	src, build := testimg.ModuleRoot(), qemuvm.BuildDir()
	dir := t.TempDir()
	qemuvm.Mkdir(t, filepath.Join(dir, "build", "bin"))
	qemuvm.CopyFile(t, filepath.Join(build, "bin", "saturn"), filepath.Join(dir, "build", "bin", "saturn"), 0o755)
	for _, d := range []string{"stage1-images", "images"} {
		acis, _ := filepath.Glob(filepath.Join(build, d, "*.aci"))
		if len(acis) == 0 {
			t.Fatalf("no images in %s/%s: run ./build.sh build first", build, d)
		}
		qemuvm.Mkdir(t, filepath.Join(dir, "build", d))
		for _, a := range acis {
			qemuvm.CopyFile(t, a, filepath.Join(dir, "build", d, filepath.Base(a)), 0o644)
		}
	}
	if b, err := exec.Command("cp", "-a", filepath.Join(src, "dist"), dir).CombinedOutput(); err != nil {
		t.Fatalf("copy dist/: %v\n%s", err, b)
	}
	qemuvm.CopyFile(t, filepath.Join(src, "tests", "systemdvm", "vmtest.sh"), filepath.Join(dir, "vmtest.sh"), 0o755)
	img := filepath.Join(t.TempDir(), "saturn.img")
	if b, err := exec.Command("mke2fs", "-q", "-t", "ext4", "-d", dir, img, "256M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, b)
	}
	return img
}

// check fails the test on every check the console shows failed or
// missing, and when vmtest.sh did not run to its end.
func check(t *testing.T, out, logPath string) {
	t.Helper()
	got := map[string]string{}
	done := ""
	for _, line := range qemuvm.ConsoleLines(out, "SATURN-VM ") {
		f := strings.SplitN(line, " ", 4)
		switch {
		case len(f) >= 3 && f[0] == "check":
			got[f[1]] = strings.Join(f[2:], " ")
		case len(f) == 2 && f[0] == "done":
			done = f[1]
		case f[0] == "uptime":
			t.Logf("VM %s s", line)
		}
	}
	for _, c := range checks {
		switch r, ok := got[c]; {
		case !ok:
			t.Errorf("check %s did not run in the VM", c)
		case r != "ok":
			t.Errorf("check %s: %s", c, r)
		}
	}
	if done == "" {
		t.Errorf("vmtest.sh did not finish; console in %s", logPath)
	}
	if t.Failed() {
		t.Logf("console tail:\n%s", qemuvm.Tail(out, 120))
	}
}
