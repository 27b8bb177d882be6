// Package cgroupvm runs saturn's cgroup tests on pure cgroup v2. The
// machines saturn is developed and tested on are hybrid (cgroup v1 holds
// the controllers), so this test boots a Debian cloud kernel under
// software-emulated qemu with an initramfs of busybox, saturn's build
// (binaries, stage1 and example images), the test binaries and the
// kernel modules pods need; its init (init.sh) mounts cgroup2 alone at
// /sys/fs/cgroup, runs the suites and prints their results on the serial
// console, which this test reads.
package cgroupvm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/tests/qemuvm"
	"github.com/saturn-pods/saturn/tests/testimg"
)

// suite is one test binary run inside the VM.
type suite struct {
	name string
	pkg  string // Go package, relative to the module root
	args []string
}

var suites = []suite{
	// The cgroup package's tests: real cgroups, v2 paths and files.
	{"cgroup", "./cgroup", nil},
	// The functional cgroup tests: pods under limits, driven through
	// saturn run, status, update and gc.
	{"functional", "./tests", []string{"-test.run=^TestCgroup"}},
}

// modules are the kernel modules pods use that Debian's cloud kernel
// builds as modules, in load order (dependencies first): overlayfs for
// pod rootfs, veth and bridge for pod networks, brd for a block device
// the io limits can throttle.
var modules = []string{
	"fs/overlayfs/overlay.ko",
	"drivers/net/veth.ko",
	"net/llc/llc.ko",
	"net/802/stp.ko",
	"net/bridge/bridge.ko",
	"drivers/block/brd.ko",
}

// bootTimeout is a hang guard: booting takes seconds, the suites a few
// minutes of software emulation on a loaded machine.
const bootTimeout = 20 * time.Minute

func TestCgroupV2VM(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("the cgroup v2 VM test runs as root (sudo ./build.sh test)")
	}
	kernel := qemuvm.FindKernel(t)
	stage := t.TempDir()
	layOut(t, stage, kernel.Dir)
	initrd := filepath.Join(t.TempDir(), "initrd")
	cpio(t, stage, initrd)

	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	cmd := qemuvm.Command(ctx, t, kernel, 3072, "console=ttyS0 panic=-1 quiet", "-initrd", initrd)
	logPath := filepath.Join(qemuvm.BuildDir(), "cgroupvm.log")
	out := qemuvm.Run(t, cmd, logPath)
	if ctx.Err() != nil {
		t.Fatalf("the VM did not finish within %v; console in %s", bootTimeout, logPath)
	}
	check(t, out, logPath)
}

// layOut writes the initramfs tree.
func layOut(t *testing.T, root, kernel string) {
	build := qemuvm.BuildDir()
	for _, d := range []string{"bin", "newroot", "etc", "root", "saturn/bin", "modules", "suites"} {
		qemuvm.Mkdir(t, filepath.Join(root, d))
	}
	qemuvm.CopyFile(t, filepath.Join(testimg.ModuleRoot(), "tests", "cgroupvm", "init.sh"), filepath.Join(root, "init"), 0o755)
	qemuvm.CopyFile(t, "/bin/busybox", filepath.Join(root, "bin", "busybox"), 0o755)
	qemuvm.WriteFile(t, filepath.Join(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
	qemuvm.WriteFile(t, filepath.Join(root, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n")
	qemuvm.WriteFile(t, filepath.Join(root, "etc", "hosts"), "127.0.0.1 localhost\n")

	// saturn's build, as build.sh made it.
	qemuvm.CopyFile(t, filepath.Join(build, "bin", "saturn"), filepath.Join(root, "saturn", "bin", "saturn"), 0o755)
	for _, d := range []string{"stage1-images", "images"} {
		qemuvm.Mkdir(t, filepath.Join(root, "saturn", d))
		acis, _ := filepath.Glob(filepath.Join(build, d, "*.aci"))
		if len(acis) == 0 {
			t.Fatalf("no images in %s/%s: run ./build.sh build first", build, d)
		}
		for _, a := range acis {
			qemuvm.CopyFile(t, a, filepath.Join(root, "saturn", d, filepath.Base(a)), 0o644)
		}
	}
	qemuvm.GoBuild(t, filepath.Join(root, "saturn", "testapp"), "build", "./tests/testapp")

	for _, s := range suites {
		dir := filepath.Join(root, "suites", s.name)
		qemuvm.Mkdir(t, dir)
		qemuvm.GoBuild(t, filepath.Join(dir, s.name+".test"), "test", "-c", s.pkg)
		args := append([]string{"./" + s.name + ".test", "-test.v", "-test.count=1", "-test.timeout=15m"}, s.args...)
		qemuvm.WriteFile(t, filepath.Join(dir, "run"), "exec "+qemuvm.ShellQuote(args)+"\n")
	}

	mods, _ := filepath.Glob(filepath.Join(kernel, "lib", "modules", "*", "kernel"))
	if len(mods) != 1 {
		t.Fatalf("no single module tree in %s: %v", kernel, mods)
	}
	var order []string
	for _, m := range modules {
		name := filepath.Base(m)
		qemuvm.CopyFile(t, filepath.Join(mods[0], m), filepath.Join(root, "modules", name), 0o644)
		order = append(order, name)
	}
	qemuvm.WriteFile(t, filepath.Join(root, "modules", "order"), strings.Join(order, "\n")+"\n")
}

// cpio packs the tree in newc format, the one the kernel unpacks into
// its initramfs, with busybox's cpio.
func cpio(t *testing.T, root, out string) {
	var list bytes.Buffer
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(root, p); rel != "." {
			list.WriteString(rel + "\n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("/bin/busybox", "cpio", "-o", "-H", "newc")
	cmd.Dir, cmd.Stdin, cmd.Stdout = root, &list, f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cpio: %v: %s", err, stderr.Bytes())
	}
}

// check fails the test on any failure the console shows, and when a
// suite did not run to its end.
func check(t *testing.T, out, logPath string) {
	var ctrls string
	exits := map[string]string{}
	passes := map[string]int{}
	cur := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		// The firmware's terminal escapes may stand before the first line.
		if i := strings.Index(line, "SATURN-VM "); i > 0 {
			line = line[i:]
		}
		switch {
		case strings.HasPrefix(line, "SATURN-VM controllers: "):
			ctrls = strings.TrimPrefix(line, "SATURN-VM controllers: ")
		case strings.HasPrefix(line, "SATURN-VM suite "):
			f := strings.Fields(line)
			if len(f) == 3 {
				cur = f[2]
			} else if len(f) == 5 && f[3] == "exit" {
				exits[f[2]] = f[4]
				cur = ""
			}
		case strings.HasPrefix(strings.TrimSpace(line), "--- FAIL"), strings.HasPrefix(line, "panic:"),
			strings.HasPrefix(line, "SATURN-VM insmod"):
			t.Errorf("in the VM (suite %s): %s", cur, line)
		case strings.HasPrefix(line, "--- PASS"):
			passes[cur]++
		}
	}
	for _, c := range []string{"cpu", "cpuset", "io", "memory", "pids"} {
		if !strings.Contains(" "+ctrls+" ", " "+c+" ") {
			t.Errorf("VM's cgroup2 root lacks controller %s (has %q)", c, ctrls)
		}
	}
	for _, s := range suites {
		switch {
		case exits[s.name] == "":
			t.Errorf("suite %s did not finish in the VM; console in %s", s.name, logPath)
		case exits[s.name] != "0":
			t.Errorf("suite %s exited %s in the VM; console in %s", s.name, exits[s.name], logPath)
		case passes[s.name] == 0:
			t.Errorf("suite %s passed no test in the VM", s.name)
		default:
			t.Logf("suite %s: %d tests passed on cgroup v2", s.name, passes[s.name])
		}
	}
	if t.Failed() {
		t.Logf("console tail:\n%s", qemuvm.Tail(out, 60))
	}
}

// String makes a suite readable in failures.
func (s suite) String() string { return fmt.Sprintf("%s (%s)", s.name, s.pkg) }
