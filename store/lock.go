package store

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fileLock is an flock(2) held on an open file. The kernel drops it when
// the process dies (or execs: Go opens files close-on-exec), which is how
// gc tells a crashed writer's leftovers from a live writer's work.
type fileLock struct{ f *os.File }

// Lock modes for lockPath and fileLock.lock.
const (
	exclusive = unix.LOCK_EX
	shared    = unix.LOCK_SH
)

// errLocked reports that a non-blocking lock attempt found the lock held.
var errLocked = errors.New("locked by another process")

// lockPath opens (creating) path and flocks it exclusively; with nonblock
// it fails with errLocked instead of waiting.
func lockPath(path string, nonblock bool) (*fileLock, error) {
	return lockPathMode(path, exclusive, nonblock)
}

// lockPathMode opens (creating) path and flocks it in mode. gc unlinks
// lock files it holds, so a lock taken on a file that is no longer at path
// is dropped and taken again on the current file.
func lockPathMode(path string, mode int, nonblock bool) (*fileLock, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		l := &fileLock{f}
		if err := l.lockMode(mode, nonblock); err != nil {
			f.Close()
			return nil, err
		}
		if l.stillAt(path) {
			return l, nil
		}
		f.Close()
	}
}

// stillAt reports whether the locked file is the one path names.
func (l *fileLock) stillAt(path string) bool {
	held, err := l.f.Stat()
	if err != nil {
		return false
	}
	cur, err := os.Stat(path)
	return err == nil && os.SameFile(held, cur)
}

// unlinkAndUnlock removes the lock file while still holding it, then
// releases it; waiters notice the file is gone and retry on a new one.
func (l *fileLock) unlinkAndUnlock() error {
	err := os.Remove(l.f.Name())
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// lock takes the lock exclusively.
func (l *fileLock) lock(nonblock bool) error {
	return l.lockMode(exclusive, nonblock)
}

// lockMode takes or converts the lock. Converting is not atomic: the
// kernel drops the old lock before it waits for the new one.
func (l *fileLock) lockMode(mode int, nonblock bool) error {
	how := mode
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
