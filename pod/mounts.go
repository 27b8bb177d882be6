package pod

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/mountinfo"
)

// MountsUnder lists the mount points at or below dir in this process's
// mount namespace, in an order that unmounts cleanly.
func MountsUnder(dir string) ([]string, error) {
	return mountinfo.Under(dir)
}

// UnmountAll unmounts everything mounted at or below dir, deepest first.
// A busy mount is detached so that removing the directory can proceed.
func UnmountAll(dir string) error {
	mps, err := MountsUnder(dir)
	if err != nil {
		return err
	}
	// One mount that will not go is no reason to leave the others.
	errs := &multierror.Error{ErrorFormat: oneLineEach}
	for _, mp := range mps {
		err := unix.Unmount(mp, 0)
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(mp, unix.MNT_DETACH)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = multierror.Append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	return errs.ErrorOrNil()
}
