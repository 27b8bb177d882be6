// Package atomicfile writes files that others read while they change: a
// temp file beside the target, renamed into place, so a reader sees the
// old content or all of the new, never half, and a killed writer leaves
// the old file (and perhaps a temp file gc can remove), never a broken
// one.
//
// It makes raw system calls rather than os.CreateTemp and os.Rename: an
// os.File registers with the poller (three fcntls and an epoll_ctl for a
// regular file) and os.Rename stats the target first, twice the calls of
// the write itself, which the pod start pays for every file stage1
// writes.
package atomicfile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Write writes data to path with mode perm (whatever the umask), through
// a temp file renamed into place. It does not fsync: for files that
// describe running processes, or caches, which mean nothing after a
// crash of the host, a sync per file would cost a disk flush.
func Write(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

// WriteSync is Write with the data synced before the rename, for files
// that must survive a crash of the host: a crash leaves the old file or
// the new one, complete.
func WriteSync(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true)
}

func write(path string, data []byte, perm os.FileMode, sync bool) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+strconv.FormatUint(rand.Uint64(), 36))
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	for b := data; err == nil && len(b) > 0; {
		var n int
		if n, err = unix.Write(fd, b); err == nil {
			b = b[n:]
		}
	}
	if err == nil {
		err = unix.Fchmod(fd, uint32(perm.Perm()))
	}
	if err == nil && sync {
		err = unix.Fsync(fd)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Rename(tmp, path)
	}
	if err != nil {
		unix.Unlink(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
