package store

import (
	"errors"
	"path/filepath"
)

// A pod in the making resolves its images (fetching them or finding them
// stored) well before it renders their trees. Image gc must not remove
// an image in between, whatever its last use: the pod would fail at
// render with the image "not found in store". So the pod holds a shared
// lock on the store's images from before it resolves the first image
// until its trees are rendered and held (RenderTree), and image gc takes
// that lock exclusively before it looks for unused images. Trees need no
// more: gc skips a tree whose lock any process holds.

// imagesHoldFile is the lock file of the hold, in the store's lock dir.
const imagesHoldFile = "images-in-use.lock"

// ImagesHold is a held shared lock on the store's images.
type ImagesHold struct{ lk *fileLock }

// HoldImages takes a shared hold on the store's images: image gc waits
// until it is released. Release it once the pod's trees are rendered;
// exec and exit release it too.
func (s *Store) HoldImages() (*ImagesHold, error) {
	lk, err := lockPathMode(filepath.Join(s.lockDir, imagesHoldFile), shared, false)
	if err != nil {
		return nil, err
	}
	return &ImagesHold{lk}, nil
}

// Release lets image gc go on. Releasing twice, or a nil hold, is a
// no-op.
func (h *ImagesHold) Release() {
	if h != nil && h.lk != nil {
		h.lk.unlock()
		h.lk = nil
	}
}

// lockImagesForGC takes the hold exclusively, calling wait first when a
// pod in the making has it.
func (s *Store) lockImagesForGC(wait func()) (*fileLock, error) {
	path := filepath.Join(s.lockDir, imagesHoldFile)
	lk, err := lockPathMode(path, exclusive, true)
	if errors.Is(err, errLocked) {
		if wait != nil {
			wait()
		}
		lk, err = lockPathMode(path, exclusive, false)
	}
	return lk, err
}
