// Package qemuvm boots test machines of their own for the tests that need
// a kernel or an init the host lacks: Debian's linux-image-cloud-amd64
// (unpacked by kernel.sh into a cache, never installed) under
// software-emulated qemu-system-x86_64 (KVM does not work where saturn is
// tested). tests/cgroupvm boots it with an initramfs on pure cgroup v2,
// tests/systemdvm with a Debian root file system and systemd as PID 1.
// Both read what their VM reports on its serial console.
package qemuvm

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// BuildDir is where build.sh put saturn's build: $SATURN_BUILD, else the
// repository's build/.
func BuildDir() string {
	if d := os.Getenv("SATURN_BUILD"); d != "" {
		return d
	}
	return filepath.Join(testimg.ModuleRoot(), "build")
}

// Kernel is the unpacked kernel package.
type Kernel struct {
	// Dir holds boot/ and lib/modules/.
	Dir string
	// Image is the kernel to boot, Version its release (the name of
	// its lib/modules directory).
	Image, Version string
}

// FindKernel unpacks the kernel package, or finds it in the cache.
func FindKernel(t testing.TB) Kernel {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join(testimg.ModuleRoot(), "tests", "qemuvm", "kernel.sh")).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("kernel for the VM (./build.sh deps fetches it): %s", msg)
	}
	k := Kernel{Dir: strings.TrimSpace(string(out))}
	images, _ := filepath.Glob(filepath.Join(k.Dir, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		t.Fatalf("no single kernel in %s/boot: %v", k.Dir, images)
	}
	k.Image = images[0]
	k.Version = strings.TrimPrefix(filepath.Base(k.Image), "vmlinuz-")
	return k
}

// Command returns qemu booting k with the kernel command line cmdline,
// memory MiB of memory and extra arguments (disks, an initramfs), under
// ctx. It is TCG, software emulation, with two CPUs, the console on the
// serial port and no NIC, so the firmware does not try a network boot;
// the VM ends when the guest powers off (or reboots: -no-reboot).
func Command(ctx context.Context, t testing.TB, k Kernel, memory int, cmdline string, extra ...string) *exec.Cmd {
	t.Helper()
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatalf("qemu-system-x86_64 not found (./build.sh deps installs qemu-system-x86): %v", err)
	}
	args := []string{"-accel", "tcg", "-cpu", "max", "-m", strconv.Itoa(memory), "-smp", "2",
		"-nographic", "-no-reboot", "-nic", "none", "-kernel", k.Image, "-append", cmdline}
	return exec.CommandContext(ctx, qemu, append(args, extra...)...)
}

// Run runs the VM cmd, keeps its console in logPath and returns it.
func Run(t testing.TB, cmd *exec.Cmd, logPath string) string {
	t.Helper()
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, log)
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Logf("qemu: %v", err)
	}
	t.Logf("VM ran %v; console in %s", time.Since(start).Round(time.Second), logPath)
	return out.String()
}

// ConsoleLines returns the console's lines that start with prefix (the
// firmware's terminal escapes may stand before them), without it.
func ConsoleLines(out, prefix string) []string {
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if i := strings.Index(line, prefix); i >= 0 {
			lines = append(lines, line[i+len(prefix):])
		}
	}
	return lines
}

// GoBuild runs go build or go test -c (args, the package last) for the
// VM, writing out: static, no cgo.
func GoBuild(t testing.TB, out string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append(append([]string{}, args[:len(args)-1]...), "-o", out, args[len(args)-1])...)
	cmd.Dir = testimg.ModuleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, b)
	}
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Mkdir makes dir and its parents.
func Mkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// WriteFile writes s to p.
func WriteFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// CopyFile copies src to dst with mode.
func CopyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// ShellQuote quotes args for sh.
func ShellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
