package pod

import (
	"fmt"

	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/seccomp"
	"github.com/saturn-pods/saturn/stage2"
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
		names, errno := stage2.SeccompSet(set)
		if _, err := seccomp.New(mode, names, errno); err != nil {
			return fmt.Errorf("isolator %s: %w", iso.Name, err)
		}
	}
	return nil
}

// narrowImageSeccomp rewrites, in a (an app's runtime app section), the
// seccomp remove set that came from its image (in fromImage) into the
// filter saturn reads it as: a retain set of saturn's default filter
// less the removed calls, with the set's errno (seccomp.DefaultWithout).
// stage1 applies a remove set the operator wrote as rkt did, a blacklist
// replacing the default filter; an image's may only narrow the default.
func narrowImageSeccomp(a *types.App, fromImage types.Isolators) error {
	for _, iso := range fromImage {
		if iso.Name != types.LinuxSeccompRemoveSetName {
			continue
		}
		set, ok := iso.Value().(types.LinuxSeccompSet)
		if !ok {
			return fmt.Errorf("isolator %s: no value", iso.Name)
		}
		removed, errno := stage2.SeccompSet(set)
		kept, err := seccomp.DefaultWithout(removed)
		if err != nil {
			return fmt.Errorf("isolator %s: %w", iso.Name, err)
		}
		retain, err := types.NewLinuxSeccompRetainSet(errno, kept...)
		if err != nil {
			return fmt.Errorf("isolator %s: %w", iso.Name, err)
		}
		narrowed, err := retain.AsIsolator()
		if err != nil {
			return err
		}
		for i := range a.Isolators {
			if a.Isolators[i].Name == iso.Name {
				a.Isolators[i] = *narrowed
			}
		}
	}
	return nil
}

// hasSeccompRemoveSet reports whether isolators hold a seccomp remove set.
func hasSeccompRemoveSet(isolators types.Isolators) bool {
	for _, iso := range isolators {
		if iso.Name == types.LinuxSeccompRemoveSetName {
			return true
		}
	}
	return false
}
