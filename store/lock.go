package store

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fileLock is an flock(2) held on an open file. The kernel drops it when
// the process dies, which is how gc tells a crashed writer's leftovers
// from a live writer's work in progress.
type fileLock struct{ f *os.File }

// errLocked reports that a non-blocking lock attempt found the lock held.
var errLocked = errors.New("locked by another process")

// lockPath opens (creating) path and flocks it exclusively; with nonblock
// it fails with errLocked instead of waiting.
func lockPath(path string, nonblock bool) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	l := &fileLock{f}
	if err := l.lock(nonblock); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

func (l *fileLock) lock(nonblock bool) error {
	how := unix.LOCK_EX
	if nonblock {
		how |= unix.LOCK_NB
	}
	for {
		err := unix.Flock(int(l.f.Fd()), how)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return errLocked
		}
		return fmt.Errorf("lock %s: %w", l.f.Name(), err)
	}
}

// unlock releases the lock and closes the file.
func (l *fileLock) unlock() error {
	return l.f.Close()
}
