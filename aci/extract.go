package aci

import (
	"errors"
	"io"
)

// ExtractOptions tune Extract.
type ExtractOptions struct {
	// RootfsOnly writes the rootfs content straight into dest and skips
	// the manifest.
	RootfsOnly bool
	// Overwrite replaces entries already present in dest (layering);
	// without it an existing non-directory is an error.
	Overwrite bool
	// PathWhitelist, when not empty, lists the absolute rootfs paths to
	// extract; directories above them are kept too.
	PathWhitelist []string
}

// Extract writes the entries of an uncompressed ACI tar below dest.
func Extract(plainTar io.Reader, dest string, opts ExtractOptions) error {
	return errors.New("aci: Extract not ready yet")
}
