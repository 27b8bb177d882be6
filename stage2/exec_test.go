package stage2

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary act as the stage2 helper: tests re-exec
// it with STAGE2_HELPER set, as the supervisor execs its own binary.
func TestMain(m *testing.M) {
	if os.Getenv("STAGE2_HELPER") == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func runHelper(t *testing.T, s *Spec) (string, error) {
	t.Helper()
	fd, err := s.Memfd()
	if err != nil {
		t.Fatal(err)
	}
	spec := os.NewFile(uintptr(fd), "spec")
	defer spec.Close()
	cmd := exec.Command(os.Args[0], "3")
	cmd.Env = []string{"STAGE2_HELPER=1"}
	cmd.ExtraFiles = []*os.File{spec}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestExecAppliesSpec(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("stage2 exec tests chroot and change credentials: run them as root")
	}
	root := t.TempDir()
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed: %v", err)
	}
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "work"), 0o777)
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Spec{
		Root: root, Dir: "/work",
		Args: []string{"busybox", "sh", "-c", `echo "$(busybox id -u) $(busybox id -g) $(busybox id -G) $(busybox pwd) $(ulimit -n) $FOO"`},
		Env:  []string{"PATH=/bin", "FOO=bar"},
		UID:  1234, GID: 2345, Groups: []uint32{3456, 4567},
		Bounding: DefaultCaps,
		Rlimits:  []Rlimit{{Resource: unix.RLIMIT_NOFILE, Soft: 321, Hard: 654}},
	}
	out, err := runHelper(t, s)
	if want := "1234 2345 2345 3456 4567 /work 321 bar"; err != nil || strings.TrimSpace(out) != want {
		t.Errorf("helper printed %q (err %v), want %q", out, err, want)
	}
	s.Args = []string{"/bin/missing"}
	out, err = runHelper(t, s)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 254 || !strings.Contains(out, "exec /bin/missing") {
		t.Errorf("missing program: out %q err %v, want exit 254 naming it", out, err)
	}
	s.Args, s.Dir = []string{"busybox", "true"}, "/nowhere"
	if out, err = runHelper(t, s); err == nil || !strings.Contains(out, "working directory /nowhere") {
		t.Errorf("missing working dir: out %q err %v", out, err)
	}
}

// The helper gets its spec, environment included, on an fd: nothing of
// it shows in the helper's arguments, which every process of the pod can
// read. The spec comes through a pipe here, written only once the
// arguments have been looked at, so the helper is sure to be waiting.
func TestHelperSpecNotInArguments(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := exec.Command(os.Args[0], "3")
	cmd.Env = []string{"STAGE2_HELPER=1"}
	cmd.ExtraFiles = []*os.File{r}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer cmd.Process.Kill()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "SECRET=s3cr3t-value"
	if strings.Contains(string(cmdline), "s3cr3t") {
		t.Errorf("helper's arguments show its spec: %q", cmdline)
	}
	b, err := json.Marshal(&Spec{Args: []string{"/bin/sh", "-c", "echo $SECRET; [ -e /proc/$$/fd/3 ] && echo has-fd-3 || echo no-fd-3"}, Env: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	// The app sees its environment, and not the spec's fd.
	if got := strings.Fields(out.String()); !slices.Equal(got, []string{"s3cr3t-value", "no-fd-3"}) {
		t.Errorf("app printed %q, want the secret and no fd 3", got)
	}
}
