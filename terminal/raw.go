package terminal

import (
	"fmt"
	"sync"

	"golang.org/x/term"
)

// Raw is a terminal put in raw mode, until Restore.
type Raw struct {
	fd  int
	mu  sync.Mutex
	old *term.State
}

// MakeRaw puts the terminal fd in raw mode: every byte typed, ^C and ^Z
// included, is passed on as it is, for the line discipline of a pty
// relayed to it to act on, and nothing is echoed but what comes back
// from there. The change takes effect at once without discarding what
// was typed before (TCSETS), so keys pressed while a pod starts still
// reach it.
func MakeRaw(fd int) (*Raw, error) {
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("raw mode: %w", err)
	}
	return &Raw{fd: fd, old: old}, nil
}

// Restore gives the terminal back the settings it had before MakeRaw.
// It may be called more than once and on a nil Raw.
func (r *Raw) Restore() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.old == nil {
		return nil
	}
	old := r.old
	r.old = nil
	if err := term.Restore(r.fd, old); err != nil {
		return fmt.Errorf("restore terminal: %w", err)
	}
	return nil
}
