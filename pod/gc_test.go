package pod

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRemoveReportsEveryFailure removes a pod whose stage1 gc fails (the
// entrypoint is missing) and whose directory cannot be deleted (its phase
// directory is read-only): both failures must be reported, one line each.
func TestRemoveReportsEveryFailure(t *testing.T) {
	data := t.TempDir()
	p := makePod(t, data, dirExitedGarbage)
	phaseDir := filepath.Join(PodsDir(data), dirExitedGarbage)
	if err := unix.Mount(phaseDir, phaseDir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(phaseDir, unix.MNT_DETACH)
	if err := unix.Mount("", phaseDir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	err := (&Cleaner{Stderr: &stderr}).Remove(p)
	if err == nil {
		t.Fatal("remove succeeded on a read-only directory")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "stage1 gc") || !strings.Contains(lines[1], "read-only") {
		t.Errorf("error = %q, want the stage1 gc failure and the read-only removal, one line each", err)
	}
	if _, err := os.Stat(p.Path()); err != nil {
		t.Errorf("pod directory: %v", err)
	}
	if stderr.Len() != 0 {
		t.Errorf("failures also logged, want them in the error only: %q", stderr.String())
	}
}

// TestRemoveWarnsStage1GC: a stage1 gc that fails while the pod is still
// deleted is a warning, not a failure, as in rkt.
func TestRemoveWarnsStage1GC(t *testing.T) {
	data := t.TempDir()
	p := makePod(t, data, dirExitedGarbage)
	var stderr bytes.Buffer
	if err := (&Cleaner{Stderr: &stderr}).Remove(p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "warning: pod "+p.UUID+": stage1 gc") {
		t.Errorf("no stage1 gc warning: %q", stderr.String())
	}
	if _, err := os.Stat(p.Path()); !os.IsNotExist(err) {
		t.Errorf("pod directory left: %v", err)
	}
}

func TestOneLineEach(t *testing.T) {
	tests := []struct {
		errs []string
		want string
	}{
		{[]string{"a"}, "a"},
		{[]string{"unmount /x: busy", "remove pod y: read-only"}, "unmount /x: busy\nremove pod y: read-only"},
	}
	for _, tt := range tests {
		var errs []error
		for _, s := range tt.errs {
			errs = append(errs, errorString(s))
		}
		if got := oneLineEach(errs); got != tt.want {
			t.Errorf("oneLineEach(%q) = %q, want %q", tt.errs, got, tt.want)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
