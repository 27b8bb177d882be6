package pod

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/inroot"
	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/stage2"
)

// CheckError is an app NewPlan refused; its message names only the app,
// the image and paths inside the image.
type CheckError struct{ err error }

func (e *CheckError) Error() string { return e.err.Error() }

// Unwrap returns the refusal.
func (e *CheckError) Unwrap() error { return e.err }

// checkRuntimeApp checks the app ra of a pod manifest against its
// rendered tree t. Errors name the app, the image and paths inside the
// image only, never the store's tree.
func checkRuntimeApp(ra *schema.RuntimeApp, t Tree) error {
	image := t.Manifest.Name.String()
	if ra.Image.Name != nil && !ra.Image.Name.Empty() {
		image = ra.Image.Name.String()
	}
	app := ra.App
	if app == nil {
		app = t.Manifest.App
	}
	rootfs := filepath.Join(t.Path, stage1abi.RootfsDir)
	if err := CheckApp(ra.Name.String(), image, app, rootfs); err != nil {
		return &CheckError{err: err}
	}
	if err := checkWorkingDirectory(ra, app, rootfs, image); err != nil {
		return &CheckError{err: err}
	}
	return nil
}

// CheckApp checks that the app called name, from the image called image
// whose rootfs is the host directory rootfs, has what it needs to start.
func CheckApp(name, image string, app *types.App, rootfs string) error {
	if app == nil || len(app.Exec) == 0 {
		return fmt.Errorf("app %q: image %s gives no executable (use --exec)", name, image)
	}
	env := stage2.Environment(name, app, stage2.Options{})
	if err := checkExec(rootfs, app.Exec[0], env); err != nil {
		return fmt.Errorf("app %q: %s in image %s", name, err, image)
	}
	for _, eh := range app.EventHandlers {
		if len(eh.Exec) == 0 {
			return fmt.Errorf("app %q: %s handler has no executable", name, eh.Name)
		}
		if err := checkExec(rootfs, eh.Exec[0], env); err != nil {
			return fmt.Errorf("app %q: %s handler: %s in image %s", name, eh.Name, err, image)
		}
	}
	if err := checkIdentity(rootfs, "user", app.User, "/etc/passwd"); err != nil {
		return fmt.Errorf("app %q: %s in image %s", name, err, image)
	}
	if err := checkIdentity(rootfs, "group", app.Group, "/etc/group"); err != nil {
		return fmt.Errorf("app %q: %s in image %s", name, err, image)
	}
	for _, gid := range app.SupplementaryGIDs {
		if gid < 0 {
			return fmt.Errorf("app %q: supplementary gid %d is negative", name, gid)
		}
	}
	if err := checkSeccomp(app); err != nil {
		return fmt.Errorf("app %q (image %s): %w", name, image, err)
	}
	return nil
}

// checkExec finds exe as stage2 will: an absolute path inside the rootfs
// (symlinks resolved in it), or a bare name on the PATH of env.
func checkExec(rootfs, exe string, env []string) error {
	switch {
	case path.IsAbs(exe):
		full, err := inroot.Resolve(rootfs, exe)
		if err != nil || !exists(full) {
			return fmt.Errorf("executable %q not found", exe)
		}
		if !isExecutable(full) {
			return fmt.Errorf("executable %q is not an executable file", exe)
		}
		return nil
	case strings.Contains(exe, "/"):
		return fmt.Errorf("executable %q is neither an absolute path nor a name to look up on PATH", exe)
	}
	searchPath := stage2.SearchPath(env)
	for _, dir := range strings.Split(searchPath, ":") {
		if dir == "" {
			continue
		}
		full, err := inroot.Resolve(rootfs, path.Join(dir, exe))
		if err == nil && isExecutable(full) {
			return nil
		}
	}
	return fmt.Errorf("executable %q not found on PATH %s", exe, searchPath)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// checkIdentity checks an appc user or group field: a number is taken as
// is, an absolute path must exist (its owner is used), a name must be in
// the image's passwd or group database.
func checkIdentity(rootfs, kind, v, db string) error {
	if v == "" {
		return fmt.Errorf("no %s given", kind)
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		if n == 1<<32-1 {
			return fmt.Errorf("%s %s is not a valid id", kind, v)
		}
		return nil
	}
	if path.IsAbs(v) {
		full, err := inroot.Resolve(rootfs, v)
		if err != nil || !exists(full) {
			return fmt.Errorf("%s %q: file not found", kind, v)
		}
		return nil
	}
	full, err := inroot.Resolve(rootfs, db)
	if err != nil {
		return fmt.Errorf("%s %q not found: no %s", kind, v, db)
	}
	f, err := os.Open(full)
	if err != nil {
		return fmt.Errorf("%s %q not found: no %s", kind, v, db)
	}
	defer f.Close()
	_, ok, err := stage2.FindID(f, v)
	if err != nil {
		return fmt.Errorf("%s %q: %s: %v", kind, v, db, err)
	}
	if !ok {
		return fmt.Errorf("%s %q not found", kind, v)
	}
	return nil
}

// CheckVolume refuses what the appc schema lets through but no stage1
// can make: an empty volume's mode must be octal permission bits, its
// uid and gid valid ids.
func CheckVolume(v types.Volume) error {
	if v.Kind != "empty" {
		return nil
	}
	if v.Mode != nil {
		m, err := strconv.ParseUint(*v.Mode, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("volume %s: invalid mode %q (want octal permission bits, e.g. 0755)", v.Name, *v.Mode)
		}
	}
	for _, id := range []struct {
		name string
		v    *int
	}{{"uid", v.UID}, {"gid", v.GID}} {
		if id.v != nil && (*id.v < 0 || *id.v >= 1<<32-1) {
			return fmt.Errorf("volume %s: invalid %s %d", v.Name, id.name, *id.v)
		}
	}
	return nil
}
