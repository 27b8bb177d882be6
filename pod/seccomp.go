package pod

import (
	"fmt"

	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/seccomp"
)

// checkSeccomp resolves the seccomp isolator of app, from its image, a
// --seccomp flag or a pod manifest, as stage1-nspawn will, so that an
// unknown system call, group or errno, or a second seccomp isolator, is
// refused before the pod exists.
func checkSeccomp(app *types.App) error {
	var seen types.ACIdentifier
	for _, iso := range app.Isolators {
		mode, ok := seccomp.ModeOf(iso.Name.String())
		if !ok {
			continue
		}
		if seen != "" {
			return fmt.Errorf("isolators %s and %s: an app takes one seccomp isolator", seen, iso.Name)
		}
		seen = iso.Name
		set, ok := iso.Value().(types.LinuxSeccompSet)
		if !ok {
			return fmt.Errorf("isolator %s: no value", iso.Name)
		}
		names := make([]string, len(set.Set()))
		for i, e := range set.Set() {
			names[i] = string(e)
		}
		if _, err := seccomp.New(mode, names, string(set.Errno())); err != nil {
			return fmt.Errorf("isolator %s: %w", iso.Name, err)
		}
	}
	return nil
}
