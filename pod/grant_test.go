package pod

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/aci"
)

// widenApp is an image app section that asks for CAP_SYS_ADMIN and a
// negative OOM score adjustment.
const widenApp = `,"app":{"exec":["/bin/sh"],"user":"0","group":"0",
	"isolators":[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_KILL","CAP_SYS_ADMIN"]}},
	{"name":"os/linux/oom-score-adj","value":-10}]}`

// Image isolators are judged after the operator's flags replaced theirs:
// what the operator set is granted, what the image set must not widen.
func TestGenerateImageGrants(t *testing.T) {
	imgs := fakeImages{fakeID(7): imageManifest(t, "example.com/widen", widenApp)}
	for _, tc := range []struct {
		args []string
		want string // "" for accepted
	}{
		{[]string{"x"}, "image example.com/widen: isolator os/linux/capabilities-retain-set retains CAP_SYS_ADMIN"},
		{[]string{"x", "--oom-score-adjust=5"}, "os/linux/capabilities-retain-set"},
		{[]string{"x", "--caps-retain=CAP_KILL"}, "image example.com/widen: isolator os/linux/oom-score-adj"},
		{[]string{"x", "--caps-remove=CAP_KILL"}, "os/linux/oom-score-adj"},
		{[]string{"x", "--caps-retain=CAP_SYS_ADMIN", "--oom-score-adjust=-10"}, ""},
		{[]string{"x", "--caps-remove=CAP_MKNOD", "--oom-score-adjust=0"}, ""},
	} {
		o, _, err := parse(tc.args)
		if err != nil {
			t.Fatalf("parse %q: %v", tc.args, err)
		}
		o.Apps.Apps[0].ImageID = fakeID(7)
		pm, err := Generate(o, imgs, nil)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: refused: %v", tc.args, err)
			} else if n := len(pm.Apps[0].App.Isolators); n != 2 {
				t.Errorf("%q: %d isolators, want the operator's 2", tc.args, n)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one with %q", tc.args, err, tc.want)
		}
	}
}

// A pod manifest's own app section is the operator's; an app without one
// takes its image's isolators, which are judged as the image's.
func TestLoadManifestImageGrants(t *testing.T) {
	imgs := fakeImages{fakeID(7): imageManifest(t, "example.com/widen", widenApp)}
	write := func(app string) string { return writePodManifest(t, app) }
	own := fmt.Sprintf(`{"name":"w","image":{"id":%q},"app":{"exec":["/bin/sh"],"user":"0","group":"0",
		"isolators":[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_SYS_ADMIN"]}}]}}`, fakeID(7))
	if _, err := LoadManifest(write(own), imgs, nil); err != nil {
		t.Errorf("the operator's pod manifest isolators refused: %v", err)
	}
	fromImage := fmt.Sprintf(`{"name":"w","image":{"id":%q}}`, fakeID(7))
	_, err := LoadManifest(write(fromImage), imgs, nil)
	if err == nil || !strings.Contains(err.Error(), "app w: image example.com/widen: isolator os/linux/capabilities-retain-set") {
		t.Errorf("an image's isolators through a pod manifest: error %v, want the retain set refused", err)
	}
}

// A --pod-manifest has the bound of image manifests.
func TestLoadManifestSizeCap(t *testing.T) {
	imgs := fakeImages{fakeID(1): imageManifest(t, "example.com/busybox", busyApp)}
	p := filepath.Join(t.TempDir(), "pod.json")
	app := fmt.Sprintf(`{"name":"one","image":{"id":%q}}`, fakeID(1))
	js := `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[` + app + `],"annotations":[{"name":"pad","value":"` +
		strings.Repeat("x", aci.MaxManifestSize) + `"}]}`
	if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadManifest(p, imgs, nil)
	if err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Fatalf("a pod manifest over the cap: error %v, want it refused for its size", err)
	}
}
