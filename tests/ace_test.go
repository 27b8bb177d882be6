package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/tests/testimg"
)

// aceImage builds an ACI from the appc ACE validator's manifest template
// `which` ("main" or "sidekick") with the validator binary at
// /ace-validator.
func aceImage(t *testing.T, validator, which string) string {
	t.Helper()
	gomodcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	tmpl := filepath.Join(strings.TrimSpace(string(gomodcache)), "github.com/appc/spec@v0.8.11/ace", "image_manifest_"+which+".json.in")
	b, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	manifest := strings.NewReplacer("@ACI_OS@", runtime.GOOS, "@ACI_ARCH@", runtime.GOARCH).Replace(string(b))
	dir := filepath.Join(t.TempDir(), which)
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(validator)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs", "ace-validator"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "ace-"+which+".aci")
	if err := testimg.BuildACI(dir, out, aci.NoCompression); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestACEValidator runs appc's ACE validator (main app with pre-start and
// post-stop handlers, and a sidekick sharing a volume) in one pod.
//
// The validator's metadata-service checks cannot pass yet: stage1-nspawn
// has no metadata service and stage0 registers none, so AC_METADATA_URL
// is unset and "main" reports exactly that one failure, which fails the
// pod. Every other check of main must pass, and prestart, sidekick and
// poststop must pass outright.
func TestACEValidator(t *testing.T) {
	validator := filepath.Join(t.TempDir(), "ace-validator")
	build := exec.Command("go", "build", "-o", validator, "github.com/appc/spec/ace")
	build.Dir = testimg.ModuleRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ACE validator: %v\n%s", err, out)
	}
	mainACI, sidekickACI := aceImage(t, validator, "main"), aceImage(t, validator, "sidekick")
	e := newEnv(t)
	r, _ := s1Run(t, e, mainACI, sidekickACI)
	for _, want := range []string{"prestart OK", "sidekick OK", "poststop OK"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.Stdout, "main OK") {
		if r.Code != 0 {
			t.Errorf("main passed but the pod exited %d\n%s", r.Code, r)
		}
		return
	}
	if !strings.Contains(r.Stdout, "main FAIL") {
		t.Fatalf("main reported neither OK nor FAIL\n%s", r)
	}
	var failures []string
	for _, l := range s1Lines(r.Stderr, "ace-validator-main") {
		if f, ok := strings.CutPrefix(l, "==> "); ok {
			failures = append(failures, f)
		}
	}
	if len(failures) != 1 || failures[0] != "AC_METADATA_URL is not set" {
		t.Errorf("main failed checks %q, want only the metadata service's\n%s", failures, r)
	}
	if r.Code != 1 {
		t.Errorf("pod exited %d, want main's 1\n%s", r.Code, r)
	}
}
