package tests

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/appc/spec/schema"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// Behaviour of both stage1s that rkt users' images and scripts depend
// on (issue 11): what an app finds in its rootfs and where it starts.

// bothStage1s are the stage1 images the tests below run under.
var bothStage1s = []string{"stage1-nspawn", "stage1-fly"}

// runUnder runs saturn run with stage1 (--net=none for nspawn; fly has
// the host's network) and returns the result, the pod's UUID and what
// the app called app printed: nspawn prefixes its lines, fly passes them
// through.
func runUnder(t *testing.T, e *env, stage1, app string, args ...string) (result, string, []string) {
	t.Helper()
	uuidFile := filepath.Join(t.TempDir(), "uuid")
	base := []string{"run", "--insecure-options=image", "--stage1-path=" + stage1Image(stage1), "--uuid-file-save=" + uuidFile}
	if stage1 == "stage1-nspawn" {
		base = append(base, "--net=none")
	}
	r := e.saturn(append(base, args...)...)
	b, _ := os.ReadFile(uuidFile)
	lines := s1Lines(r.Stdout, app)
	if stage1 == "stage1-fly" {
		lines = strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
	}
	return r, strings.TrimSpace(string(b)), lines
}

// An image's workingDirectory is where its app starts: "/" (the appc
// default, and what converted images carry) as well as a nested
// directory of the image.
func TestWorkingDirectoryFromImage(t *testing.T) {
	e := newEnv(t)
	for _, s1 := range bothStage1s {
		for _, wd := range []string{"/", "/srv/data"} {
			img := testimg.Busybox(t, testimg.Options{
				Files: map[string]string{"srv/data/here": "x"},
				Exec:  []string{"/bin/sh", "-c", "pwd; ls srv/data/here here 2>/dev/null; true"},
				Modify: func(m *schema.ImageManifest) {
					m.App.WorkingDirectory = wd
				},
			})
			r, _, lines := runUnder(t, e, s1, "busybox", img)
			want := []string{wd, "srv/data/here"}
			if wd != "/" {
				want = []string{wd, "here"}
			}
			if r.Code != 0 || !slices.Equal(lines, want) {
				t.Errorf("%s, workingDirectory %s: printed %q, want %q\n%s", s1, wd, lines, want, r)
			}
		}
	}
}
