package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/store"
)

// openStore opens the image store under --dir.
func openStore(g *globals) (*store.Store, error) {
	s, err := store.Open(g.Dir)
	if err != nil {
		return nil, err
	}
	s.InsecureSkipTreeVerify = g.Insecure.OnDisk
	s.MaxImageSize = g.MaxImageSize
	return s, nil
}

// resolveImage finds the stored image a user named: by id or unique id
// prefix, by name[:version][,label=value…], or by the path of an ACI file
// (the stored image with that file's id). It never fetches.
func resolveImage(g *globals, s *store.Store, ref string) (string, error) {
	id, err := resolveRef(s, ref)
	if err == nil {
		g.debugf("image: %s is %s", clip.String(ref), id)
	}
	return id, err
}

func resolveRef(s *store.Store, ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("empty image reference")
	}
	if path, ok := localACIPath(ref); ok {
		id, err := fileImageID(path)
		if err != nil {
			return "", err
		}
		if _, err := s.Info(id); err != nil {
			return "", fmt.Errorf("image file %s (%s) is not in the store; fetch it first", clip.String(path), shortID(id))
		}
		return id, nil
	}
	return s.Resolve(ref)
}

// localACIPath reports whether ref names an ACI file on disk: a file://
// URL, or an existing regular file.
func localACIPath(ref string) (string, bool) {
	if p, ok := strings.CutPrefix(ref, "file://"); ok {
		return p, true
	}
	if strings.HasPrefix(ref, "sha512-") || strings.Contains(ref, "://") {
		return "", false
	}
	fi, err := os.Stat(ref)
	if err == nil && fi.Mode().IsRegular() {
		return ref, true
	}
	return "", false
}

// fileImageID computes the image id of an ACI file of any compression.
func fileImageID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("image file %s: %w", clip.String(path), withoutPath(err))
	}
	defer f.Close()
	plain, _, err := aci.Decompress(f)
	if err != nil {
		return "", fmt.Errorf("image file %s: %w", clip.String(path), err)
	}
	defer plain.Close()
	id, err := aci.ImageID(plain)
	if err != nil {
		return "", fmt.Errorf("image file %s: %w", clip.String(path), err)
	}
	return id, nil
}

// withoutPath drops the path an *os.PathError repeats, for messages that
// name the file the user knows instead (not a temp file, say).
func withoutPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// shortID is the id form rkt prints after a fetch: the algorithm and the
// first 32 hex digits.
func shortID(id string) string {
	const n = len("sha512-") + 32
	if len(id) > n {
		return id[:n]
	}
	return id
}
