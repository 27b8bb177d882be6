package stage2

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The main goroutine keeps the main thread, as the stage1 binaries do,
// so that no test goroutine and no thread Start spoils runs on it (see
// Start).
func init() { runtime.LockOSThread() }

// busyboxRoot makes a rootfs holding busybox-static (as bin/busybox and
// bin/sh) and a mounted /proc, removed when the test ends.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("stage2 start tests chroot, mount and change credentials: run them as root")
	}
	root := t.TempDir()
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed: %v", err)
	}
	for _, d := range []string{"bin", "proc", "work"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(root, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(root, "proc"), unix.MNT_DETACH) })
	return root
}

// startAndWait runs s with Start and returns its output and exit status.
func startAndWait(t *testing.T, s *Spec) (string, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	pid, err := Start(s, []uintptr{null.Fd(), w.Fd(), w.Fd()}, true)
	w.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	out := new(strings.Builder)
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	return out.String(), ws.ExitStatus()
}

func capMask(caps []Cap) uint64 {
	var m uint64
	for _, c := range caps {
		m |= 1 << uint(c)
	}
	return m
}

func TestStartAppliesSpec(t *testing.T) {
	root := busyboxRoot(t)
	s := &Spec{
		Root: root, Dir: "/work",
		// "sh" is found through PATH inside root, as a symlink there.
		Args: []string{"sh", "-c", `echo "$(busybox id -u) $(busybox id -g) $(busybox id -G) $(busybox pwd) $FOO $$"; ` +
			`busybox grep -E '^(CapBnd|CapAmb|NoNewPrivs):' /proc/self/status`},
		Env:        []string{"PATH=/nowhere:/bin", "FOO=bar"},
		UID:        1234,
		GID:        2345,
		Groups:     []uint32{3456, 4567},
		Bounding:   DefaultCaps,
		Ambient:    []Cap{unix.CAP_NET_BIND_SERVICE},
		NoNewPrivs: true,
	}
	out, code := startAndWait(t, s)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	// $$ is 1 only in a new pid namespace; a new session is not visible
	// to sh, so check the rest.
	if want := "1234 2345 2345 3456 4567 /work bar"; !strings.HasPrefix(lines[0], want) {
		t.Errorf("got %q, want %q…", lines[0], want)
	}
	for _, want := range []string{
		fmt.Sprintf("CapBnd:\t%016x", capMask(DefaultCaps)),
		fmt.Sprintf("CapAmb:\t%016x", capMask(s.Ambient)),
		"NoNewPrivs:\t1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestStartLeavesCallerAlone checks that no thread of the calling process
// keeps the bounding set or no_new_privs applied for the app: the thread
// that forked it must be gone.
func TestStartLeavesCallerAlone(t *testing.T) {
	root := busyboxRoot(t)
	for range 5 {
		s := &Spec{Root: root, Args: []string{"/bin/busybox", "true"}, Bounding: []Cap{unix.CAP_KILL}, NoNewPrivs: true}
		if out, code := startAndWait(t, s); code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
	}
	full := "CapBnd:\t" + mainBounding(t)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if st, spoiled := spoiledThread(task.Name(), full); spoiled {
			t.Errorf("thread %s kept the app's settings:\n%s", task.Name(), st)
		}
	}
}

// spoiledThread reports whether thread tid of this process has the app's
// settings (no_new_privs, or a bounding set other than full) and keeps
// them: the thread that forked an app may still be on its way out right
// after Start returns, so a spoiled thread counts only if it is still
// there a second later.
func spoiledThread(tid, full string) (string, bool) {
	deadline := time.Now().Add(time.Second)
	for {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", tid, "status"))
		if err != nil {
			return "", false // the thread ended
		}
		st := string(b)
		if !strings.Contains(st, "NoNewPrivs:\t1") && strings.Contains(st, full) {
			return "", false
		}
		if time.Now().After(deadline) {
			return st, true
		}
		time.Sleep(time.Millisecond)
	}
}

// mainBounding is the bounding set of the main thread, which the main
// goroutine holds (see init), so Start never spoils it.
func mainBounding(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:\t"); ok {
			return v
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return ""
}

func TestStartRefusals(t *testing.T) {
	root := busyboxRoot(t)
	adj := 100
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"not in PATH", Spec{Root: root, Args: []string{"missing"}, Env: []string{"PATH=/bin"}}, "not found in PATH"},
		{"missing working directory", Spec{Root: root, Dir: "/nowhere", Args: []string{"/bin/busybox", "true"}}, "working directory /nowhere"},
		{"missing program", Spec{Root: root, Args: []string{"/bin/missing"}}, "start /bin/missing"},
		{"rlimits", Spec{Root: root, Args: []string{"/bin/busybox"}, Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Soft: 1, Hard: 1}}}, "need the stage2 helper"},
		{"oom_score_adj", Spec{Root: root, Args: []string{"/bin/busybox"}, OOMScoreAdj: &adj}, "need the stage2 helper"},
		{"no command", Spec{Root: root}, "no command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(&tc.spec, []uintptr{0, 1, 2}, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
