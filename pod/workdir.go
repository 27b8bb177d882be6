package pod

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/inroot"
	"github.com/saturn-pods/saturn/stage2"
)

// checkWorkingDirectory refuses an app whose user could not enter its
// working directory: stage1 would fail the app's chdir only after the
// pod exists. Each directory on the way in the image's rootfs must grant
// the app's uid, gid or supplementary groups search permission. The walk
// stops at a directory the image lacks (stage1 makes it) and where a
// volume is mounted (its permissions are the volume's). A root app is not
// checked: it may pass any permission.
func checkWorkingDirectory(ra *schema.RuntimeApp, app *types.App, rootfs, image string) error {
	if app == nil || app.WorkingDirectory == "" || app.WorkingDirectory == "/" {
		return nil
	}
	spec, err := stage2.AppSpec(rootfs, ra.Name.String(), app, app.Exec, stage2.Options{})
	if err != nil || spec.UID == 0 {
		// CheckApp already reported what keeps the spec from being made.
		return nil
	}
	var mounts []string
	for _, m := range ra.Mounts {
		mounts = append(mounts, path.Clean("/"+m.Path))
	}
	for _, mp := range app.MountPoints {
		mounts = append(mounts, path.Clean("/"+mp.Path))
	}
	dir := path.Clean("/" + app.WorkingDirectory)
	prefix := "/"
	for _, c := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		prefix = path.Join(prefix, c)
		if slices.Contains(mounts, prefix) {
			return nil
		}
		full, err := inroot.Resolve(rootfs, prefix)
		if err != nil {
			return nil
		}
		fi, err := os.Stat(full)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("app %q: working directory %q: %v in image %s", ra.Name, dir, err, image)
		}
		if !fi.IsDir() {
			return fmt.Errorf("app %q: working directory %q: %s is not a directory in image %s", ra.Name, dir, prefix, image)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && !canSearch(st, spec.UID, spec.GID, spec.Groups) {
			return fmt.Errorf("app %q: user %d cannot enter working directory %q: %s is mode %04o, owner %d:%d, in image %s",
				ra.Name, spec.UID, dir, prefix, fi.Mode().Perm(), st.Uid, st.Gid, image)
		}
	}
	return nil
}

// canSearch reports whether a process with uid, gid and groups may pass
// through the directory st describes, by its permission bits.
func canSearch(st *syscall.Stat_t, uid, gid uint32, groups []uint32) bool {
	mode := st.Mode
	switch {
	case st.Uid == uid:
		return mode&0o100 != 0
	case st.Gid == gid || slices.Contains(groups, st.Gid):
		return mode&0o010 != 0
	}
	return mode&0o001 != 0
}
