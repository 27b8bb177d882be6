package stage2

import (
	"os"
	"os/exec"
	"path/filepath"
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
	arg, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], arg)
	cmd.Env = []string{"STAGE2_HELPER=1"}
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
