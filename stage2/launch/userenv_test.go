package launch

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWithUserEnv(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	passwd := "root:x:0:0:root:/root:/bin/ash\n# comment:x:5:5::/c:/bin/c\ntester:x:1000:1000:Tester:/home/tester:/bin/sh\nbare:x:1001:1001:::\n"
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	noPasswd := t.TempDir()
	tests := []struct {
		name string
		root string
		uid  uint32
		env  []string
		want []string
	}{
		{"user from passwd", root, 1000, []string{"PATH=/bin"},
			[]string{"PATH=/bin", "HOME=/home/tester", "USER=tester", "LOGNAME=tester", "SHELL=/bin/sh"}},
		{"root from passwd", root, 0, nil,
			[]string{"HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/ash"}},
		{"empty home and shell", root, 1001, nil,
			[]string{"HOME=/", "USER=bare", "LOGNAME=bare", "SHELL=/bin/sh"}},
		{"uid without entry", root, 4242, nil, []string{"HOME=/", "SHELL=/bin/sh"}},
		{"root without passwd, as rkt", noPasswd, 0, nil,
			[]string{"HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/sh"}},
		{"manifest wins", root, 1000, []string{"HOME=/data", "USER=svc"},
			[]string{"HOME=/data", "USER=svc", "LOGNAME=tester", "SHELL=/bin/sh"}},
	}
	for _, tt := range tests {
		if got := withUserEnv(tt.env, tt.root, tt.uid); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
