package pod

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/inroot"
)

// Stage1RootfsPath is where the pod's stage1 rootfs is.
func (p *Pod) Stage1RootfsPath() string { return filepath.Join(p.Path(), stage1RootfsRel) }

// stage1File finds a file stage1 wrote under its rootfs: the directory
// to resolve rel in, the mounted rootfs or, when the overlay is no longer
// mounted (after a reboot, or mid-gc), the overlay's upper directory.
func (p *Pod) stage1File(rel string) (dir, relOut string) {
	direct := p.Stage1RootfsPath()
	if _, err := os.Lstat(filepath.Join(direct, rel)); err == nil || !p.UsesOverlay() {
		return direct, rel
	}
	s1, err := readTrimmed(filepath.Join(p.Path(), fileStage1TreeID))
	if err != nil {
		return direct, rel
	}
	return filepath.Join(p.Path(), dirOverlay, s1, "upper"), rel
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

// readStage1File reads rel below the stage1 rootfs as readTrimmed reads
// a file, resolved as openStage1File does.
func (p *Pod) readStage1File(rel string) (string, error) {
	f, err := p.openStage1File(rel)
	if err != nil {
		return "", err
	}
	return trimmedValue(f)
}

// maxSmallFile caps what readTrimmed reads. The files it reads hold one
// short value each (a pid, an exit status, "ready", a tree id of about
// 140 bytes); one page leaves ample room for them, and bounds what a
// file an app can write makes the host read and keep in memory.
const maxSmallFile = 4096

// readTrimmed reads a small file of one value, trimmed of white space.
// Several of these files (the pid files, stage1's rkt/status/<app> and
// rkt/supervisor-status) can be written, or replaced, by an app that
// escaped its chroot into the stage1 rootfs, and are read by the host as
// root: so the file itself must not be a symlink (which could name
// /etc/shadow, or /dev/zero), it is opened without blocking (a FIFO would
// hang status and list), it must be a regular file, and no more than
// maxSmallFile bytes are read; a larger file is refused.
func readTrimmed(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ELOOP {
			return "", fmt.Errorf("%s is a symlink, not a regular file", path)
		}
		return "", &os.PathError{Op: "open", Path: path, Err: err}
	}
	return trimmedValue(os.NewFile(uintptr(fd), path))
}

// trimmedValue reads and closes f, a regular file of at most
// maxSmallFile bytes holding one value, and trims it of white space.
func trimmedValue(f *os.File) (string, error) {
	defer f.Close()
	path := f.Name()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	}
	b := make([]byte, maxSmallFile+1)
	n, err := io.ReadFull(f, b)
	switch {
	case err == nil:
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxSmallFile)
	case err != io.EOF && err != io.ErrUnexpectedEOF:
		return "", &os.PathError{Op: "read", Path: path, Err: err}
	}
	s := strings.TrimSpace(string(b[:n]))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// clip shortens a value read from a file a pod can write before an error
// message shows it, so that a file pointed elsewhere shows little of it.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
