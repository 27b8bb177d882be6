package inroot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolve(t *testing.T) {
	outside := t.TempDir()
	root, _ := rootWithLinks(t, hostileLinks(outside))
	tests := []struct {
		in, want string
		err      bool
	}{
		{"/bin/sh", "usr/bin/sh", false},
		{"bin", "usr/bin", false},
		{"/abs/passwd", "etc/passwd", false},
		{"/escape/passwd", "etc/passwd", false},
		{"/../../etc", "etc", false},
		{"/usr/bin/up/etc", "etc", false},
		{"/etc/dangles", "nowhere/file", false},
		{"/new/dir/x", "new/dir/x", false},
		// A ".." past a missing component must not climb out of root.
		{"/work", "etc/cron.d/x", false},
		{"/work/y", "etc/cron.d/x/y", false},
		{"/late", "etc/shadow", false},
		{"/missing/../../../etc/passwd", "etc/passwd", false},
		// An absolute target is the root's own path, not the host's.
		{"/host/x", outside[1:] + "/x", false},
		{"/hostup", outside[1:] + "/x", false},
		{"/loop/x", "", true},
	}
	for _, tc := range tests {
		got, err := Resolve(root, tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("Resolve(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != filepath.Join(root, tc.want) {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.in, got, err, filepath.Join(root, tc.want))
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("resolving in %s made %v in %s, outside it", root, ents, outside)
	}
}
