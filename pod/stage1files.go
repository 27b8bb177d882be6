package pod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/inroot"
	"github.com/saturn-pods/saturn/stage1abi"
)

// Stage1RootfsPath is where the pod's stage1 rootfs is.
func (p *Pod) Stage1RootfsPath() string { return filepath.Join(p.Path(), stage1abi.Stage1Rootfs) }

// stage1File finds a file stage1 wrote under its rootfs: the directory
// to resolve rel in, the mounted rootfs or, when the overlay is no longer
// mounted (after a reboot, or mid-gc), the overlay's upper directory.
func (p *Pod) stage1File(rel string) (dir, relOut string) {
	direct := p.Stage1RootfsPath()
	if _, err := os.Lstat(filepath.Join(direct, rel)); err == nil || !p.UsesOverlay() {
		return direct, rel
	}
	s1, err := stage1abi.ReadValue(filepath.Join(p.Path(), stage1abi.Stage1TreeID))
	if err != nil {
		return direct, rel
	}
	return filepath.Join(p.Path(), stage1abi.OverlayDir, s1, "upper"), rel
}

// openStage1File opens rel, a file stage1 wrote under its rootfs, for
// reading. The pod can write there: an app that escaped its chroot could
// replace any directory on the way (rkt/, say) with a symlink into the
// host, so no symlink is followed below the rootfs (openat2
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS; on kernels before 5.6 only the
// last component is checked). Opened without blocking: a FIFO would hang
// status and list.
func (p *Pod) openStage1File(rel string) (*os.File, error) {
	dir, rel := p.stage1File(rel)
	f, err := inroot.OpenBeneath(dir, rel, unix.O_RDONLY|unix.O_NONBLOCK)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return nil, fmt.Errorf("%s goes through a symlink", filepath.Join(dir, rel))
	}
	return f, err
}

// readStage1File reads rel below the stage1 rootfs as
// stage1abi.ReadValueBeneath does, found as openStage1File finds it.
func (p *Pod) readStage1File(rel string) (string, error) {
	dir, rel := p.stage1File(rel)
	return stage1abi.ReadValueBeneath(dir, rel)
}
