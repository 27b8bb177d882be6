package store

import "os"

// TempFile creates a locked temporary file in the store's temp directory,
// for a download that must be complete before it can be imported (an
// image whose signature the server gave only afterwards). The lock keeps
// image gc off it while this process lives; the caller closes and
// removes it.
func (s *Store) TempFile() (*os.File, error) {
	return s.lockedTemp()
}
