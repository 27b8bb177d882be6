package aci

import (
	"fmt"
	"os"
	"path/filepath"
)

// BuildFile builds the image directory dir (manifest and rootfs/) into
// the file out, as mkaci and "saturn image build" do. It writes to a
// temporary file beside out and moves it into place, so a failed build
// never leaves a partial image behind; an existing out is replaced only
// with overwrite.
func BuildFile(dir, out string, c Compression, overwrite bool) error {
	if _, err := os.Lstat(out); err == nil && !overwrite {
		return fmt.Errorf("%s exists (use --overwrite)", out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".mkaci-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := Build(dir, tmp, c); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if !overwrite {
		// Link fails if out appeared meanwhile, unlike rename.
		if err := os.Link(tmp.Name(), out); err != nil {
			return fmt.Errorf("create %s: %w", out, err)
		}
		return nil
	}
	return os.Rename(tmp.Name(), out)
}
