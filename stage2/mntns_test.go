package stage2

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage2/launch"
)

// A process started in the mount namespace launch.NewMountNS made sees
// the rootfs as its root and nothing above it, and looks its command up
// there; no thread of the caller is left in that namespace or with
// another root.
func TestStartInMountNamespace(t *testing.T) {
	root := busyboxRoot(t)
	// NewMountNS pivots into a mount point.
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(root, "work/here"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mine, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := launch.NewMountNS(root)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ns)
	s := &Spec{
		MountNS: ns, Dir: "/work", Env: []string{"PATH=/bin"},
		// "sh" is found through PATH in the namespace's root.
		Args: []string{"sh", "-c", `busybox ls; busybox ls /; busybox cat /proc/self/mountinfo | busybox wc -l; busybox readlink /proc/self/ns/mnt`},
	}
	out, code := startAndWait(t, s)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 6 {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if got := strings.Join(lines[:4], " "); got != "here bin proc work" {
		t.Errorf("working directory and root hold %q, want here, then bin proc work", got)
	}
	// The rootfs and its /proc, nothing of the caller's mounts.
	if lines[4] != "2" {
		t.Errorf("the namespace has %s mounts, want 2:\n%s", lines[4], out)
	}
	if lines[5] == mine {
		t.Errorf("the process is in the caller's mount namespace %s", mine)
	}
	deadline := time.Now().Add(time.Second)
	for {
		left := threadsNotIn(t, mine)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads %v of the caller are in another mount namespace", left)
		}
		time.Sleep(time.Millisecond)
	}
}

// threadsNotIn lists the threads of this process whose mount namespace is
// not ns.
func threadsNotIn(t *testing.T, ns string) []string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, task := range tasks {
		l, err := os.Readlink(filepath.Join("/proc/self/task", task.Name(), "ns/mnt"))
		if err == nil && l != ns {
			out = append(out, task.Name())
		}
	}
	return out
}
