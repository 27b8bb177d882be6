package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saturn-pods/saturn/mountinfo"
	"github.com/saturn-pods/saturn/tests/testimg"
)

// The functional tests drive the real binaries that build.sh built. They
// need root (namespaces, mounts) and a build directory; both are checked
// once here so a missing build fails loudly instead of skipping.
func TestMain(m *testing.M) {
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "tests: functional tests must run as root (sudo ./build.sh test)")
		os.Exit(1)
	}
	if _, err := os.Stat(saturnBin()); err != nil {
		fmt.Fprintf(os.Stderr, "tests: %v: run ./build.sh build first (or set SATURN_BUILD)\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// buildDir is where build.sh put binaries and images: $SATURN_BUILD, else
// the repository's build/.
func buildDir() string {
	if d := os.Getenv("SATURN_BUILD"); d != "" {
		return d
	}
	return filepath.Join(testimg.ModuleRoot(), "build")
}

func saturnBin() string { return filepath.Join(buildDir(), "bin", "saturn") }

// stage1Image returns the path of a stage1 ACI built by build.sh.
func stage1Image(name string) string {
	return filepath.Join(buildDir(), "stage1-images", name+".aci")
}

// env is one isolated saturn installation: its own data dir and config
// dirs, all under the test's temp dir.
type env struct {
	t            testing.TB
	Dir          string
	LocalConfig  string
	SystemConfig string
	UserConfig   string
	// NetNS, when set, is a network namespace (a path) saturn runs in,
	// so that a pod's networks touch the test's tables, not the host's.
	NetNS string
}

// newEnv makes an env whose cleanup garbage-collects every pod and then
// fails the test if a mount is left under its directories.
func newEnv(t testing.TB) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{
		t:            t,
		Dir:          filepath.Join(root, "data"),
		LocalConfig:  filepath.Join(root, "local-config"),
		SystemConfig: filepath.Join(root, "system-config"),
		UserConfig:   filepath.Join(root, "user-config"),
	}
	for _, d := range []string{e.Dir, e.LocalConfig, e.SystemConfig, e.UserConfig} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Tests read apps' lines from saturn's output, where they go unless
	// journald runs on the host (--app-logs=auto): where it does, the
	// tests' saturn is configured to keep them there.
	if _, err := os.Stat("/run/systemd/journal/socket"); err == nil {
		logs := filepath.Join(e.SystemConfig, "logs.d")
		if err := os.MkdirAll(logs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(logs, "tests.json"), []byte(`{"saturnKind":"logs","saturnVersion":"v1","app-logs":"stdout"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { e.cleanup(root) })
	return e
}

func (e *env) cleanup(root string) {
	// Stop whatever still runs, then let saturn's own gc remove it: a
	// leak found here is a bug in gc, so it is reported, then mended so
	// the next test starts clean.
	e.saturn("gc", "--grace-period=0s")
	if left := mountsUnder(root); len(left) > 0 {
		e.t.Errorf("mounts left under %s after gc: %v", root, left)
		for i := len(left) - 1; i >= 0; i-- {
			exec.Command("umount", "-l", left[i]).Run()
		}
	}
}

// mountsUnder lists mount points below dir, deepest first.
func mountsUnder(dir string) []string {
	mps, err := mountinfo.Under(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, mp := range mps {
		if mp != dir {
			out = append(out, mp)
		}
	}
	return out
}

// result is what one saturn invocation did.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// globalArgs are the flags that point saturn at this env.
func (e *env) globalArgs() []string {
	return []string{
		"--dir=" + e.Dir,
		"--local-config=" + e.LocalConfig,
		"--system-config=" + e.SystemConfig,
		"--user-config=" + e.UserConfig,
	}
}

// command returns an unstarted saturn command with the env's global flags
// placed before args.
func (e *env) command(args ...string) *exec.Cmd {
	if e.NetNS != "" {
		return exec.Command("nsenter", append([]string{"--net=" + e.NetNS, "--", saturnBin()}, append(e.globalArgs(), args...)...)...)
	}
	return exec.Command(saturnBin(), append(e.globalArgs(), args...)...)
}

// saturn runs saturn to completion (at most two minutes) and returns what
// it did, whatever the exit code.
func (e *env) saturn(args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start saturn: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		e.t.Fatalf("saturn %v: still running after 2 minutes\nstdout:\n%s\nstderr:\n%s", args, stdout.String(), stderr.String())
	}
	return result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

// mustSaturn runs saturn and fails the test unless it exits 0; it returns
// stdout.
func (e *env) mustSaturn(args ...string) string {
	e.t.Helper()
	r := e.saturn(args...)
	if r.Code != 0 {
		e.t.Fatalf("saturn %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// failSaturn runs saturn, expects a non-zero exit and an error message
// containing want, and returns the result.
func (e *env) failSaturn(want string, args ...string) result {
	e.t.Helper()
	r := e.saturn(args...)
	if r.Code == 0 {
		e.t.Fatalf("saturn %s: succeeded, want failure mentioning %q\n%s", strings.Join(args, " "), want, r)
	}
	if !strings.Contains(r.Stderr, want) {
		e.t.Fatalf("saturn %s: error does not mention %q\n%s", strings.Join(args, " "), want, r)
	}
	return r
}
