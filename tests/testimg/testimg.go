// Package testimg builds the App Container images that saturn's tests run:
// one from Debian's busybox-static and one from the static Go test app in
// tests/testapp. Images are built from source on every run, never shipped.
package testimg

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/aci"
)

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/bin/busybox"

// Options describe an image to build. Zero values give a working image.
type Options struct {
	// Name is the image name; default "example.com/busybox" or
	// "example.com/testapp".
	Name string
	// Version is the "version" label; default "1.0.0". Empty labels
	// os/arch are always added.
	Version string
	// Labels are added to the version, os and arch labels.
	Labels map[string]string
	// Exec is the app's exec; default ["/bin/sh"] or ["/testapp", "env"].
	Exec []string
	// NoApp builds an image without an app section (a dependency layer).
	NoApp bool
	// Files are extra regular files: rootfs-relative path to content.
	Files map[string]string
	// Compression of the built ACI; default none.
	Compression aci.Compression
	// Modify may change the manifest after defaults are filled in.
	Modify func(m *schema.ImageManifest)
}

// passwd and group give the images named users, so tests can check user
// and group resolution by name.
const (
	passwd = "root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:tester:/home/tester:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group  = "root:x:0:\ntesters:x:1000:tester\nextra:x:1001:tester\nnogroup:x:65534:\n"
)

// BusyboxDir writes an image directory (manifest and rootfs/) holding
// busybox-static with a symlink for every applet.
func BusyboxDir(dir string, o Options) error {
	if o.Name == "" {
		o.Name = "example.com/busybox"
	}
	if o.Exec == nil {
		o.Exec = []string{"/bin/sh"}
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := baseRootfs(rootfs); err != nil {
		return err
	}
	if err := copyFile(BusyboxPath, filepath.Join(rootfs, "bin/busybox"), 0o755); err != nil {
		return fmt.Errorf("copy busybox (is busybox-static installed?): %w", err)
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
			return err
		}
	}
	return finish(dir, o)
}

// TestAppDir writes an image directory holding the static test app as
// /testapp, built from tests/testapp with the Go toolchain.
func TestAppDir(dir string, o Options) error {
	if o.Name == "" {
		o.Name = "example.com/testapp"
	}
	if o.Exec == nil {
		o.Exec = []string{"/testapp", "env"}
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := baseRootfs(rootfs); err != nil {
		return err
	}
	if err := BuildTestApp(filepath.Join(rootfs, "testapp")); err != nil {
		return err
	}
	return finish(dir, o)
}

// BuildTestApp compiles tests/testapp statically to out, or copies the
// binary $SATURN_TESTAPP names where there is no Go toolchain to build
// it with (the cgroup v2 test VM).
func BuildTestApp(out string) error {
	if pre := os.Getenv("SATURN_TESTAPP"); pre != "" {
		return copyFile(pre, out, 0o755)
	}
	cmd := exec.Command("go", "build", "-o", out, "./tests/testapp")
	cmd.Dir = ModuleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build testapp: %v: %s", err, b)
	}
	return nil
}

// ModuleRoot is the repository root, found from this source file.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Busybox builds a busybox image into a temp dir of t and returns the path
// of the .aci file.
func Busybox(t testing.TB, o Options) string {
	t.Helper()
	return build(t, o, BusyboxDir)
}

// TestApp builds a test-app image into a temp dir of t and returns the
// path of the .aci file.
func TestApp(t testing.TB, o Options) string {
	t.Helper()
	return build(t, o, TestAppDir)
}

// Dir builds an image directory with layout fn and returns its path.
func Dir(t testing.TB, o Options, layout func(string, Options) error) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "image")
	if err := layout(dir, o); err != nil {
		t.Fatalf("lay out image: %v", err)
	}
	return dir
}

func build(t testing.TB, o Options, layout func(string, Options) error) string {
	t.Helper()
	dir := Dir(t, o, layout)
	out := filepath.Join(t.TempDir(), "image.aci")
	if err := BuildACI(dir, out, o.Compression); err != nil {
		t.Fatal(err)
	}
	return out
}

// BuildACI builds the image directory dir into the file out.
func BuildACI(dir, out string, c aci.Compression) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := aci.Build(dir, f, c); err != nil {
		f.Close()
		return fmt.Errorf("build %s: %w", dir, err)
	}
	return f.Close()
}

func baseRootfs(rootfs string) error {
	for _, d := range []string{"bin", "etc", "tmp", "root", "home/tester", "dev", "proc", "sys"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(rootfs, "home/tester"), 1000, 1000); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte(group), 0o644)
}

func finish(dir string, o Options) error {
	rootfs := filepath.Join(dir, "rootfs")
	for p, content := range o.Files {
		full := filepath.Join(rootfs, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return err
		}
	}
	m, err := Manifest(o)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest"), b, 0o644)
}

// Manifest returns the image manifest o describes.
func Manifest(o Options) (*schema.ImageManifest, error) {
	name, err := types.NewACIdentifier(o.Name)
	if err != nil {
		return nil, fmt.Errorf("image name %q: %w", o.Name, err)
	}
	version := o.Version
	if version == "" {
		version = "1.0.0"
	}
	m := schema.BlankImageManifest()
	m.Name = *name
	m.Labels = types.Labels{
		{Name: "version", Value: version},
		{Name: "os", Value: "linux"},
		{Name: "arch", Value: runtime.GOARCH},
	}
	for k, v := range o.Labels {
		m.Labels = append(m.Labels, types.Label{Name: types.ACIdentifier(k), Value: v})
	}
	if !o.NoApp {
		m.App = &types.App{Exec: o.Exec, User: "0", Group: "0"}
	}
	if o.Modify != nil {
		o.Modify(m)
	}
	return m, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}
