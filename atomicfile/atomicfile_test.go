package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The file has the content and the mode asked for whatever the umask, is
// replaced whole, and leaves no temp file behind; a failure names it.
func TestWrite(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	for _, write := range []func(string, []byte, os.FileMode) error{Write, WriteSync} {
		dir := t.TempDir()
		p := filepath.Join(dir, "status")
		for _, want := range []string{"ready", "143", ""} {
			if err := write(p, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil || string(b) != want {
				t.Errorf("read %q, %v; want %q", b, err, want)
			}
			st, err := os.Stat(p)
			if err != nil || st.Mode() != 0o644 {
				t.Errorf("mode %v, %v; want -rw-r--r--", st.Mode(), err)
			}
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 {
			t.Errorf("directory holds %v (%v), want the file alone", ents, err)
		}
		if err := write(filepath.Join(dir, "missing", "x"), []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "missing/x") {
			t.Errorf("write into a missing directory: %v, want an error naming the file", err)
		}
		// A directory in the way: the rename fails, the temp file goes.
		if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := write(filepath.Join(dir, "d"), []byte("x"), 0o600); err == nil {
			t.Error("replaced a directory")
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 2 {
			t.Errorf("a failed write left %v", ents)
		}
	}
}
