package store

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/untar"
)

// checkNoWritesThroughSymlinks re-reads the headers of a written blob (the
// tar reader seeks past file data, so this is cheap) and refuses an
// archive with an entry below one of its own symlinks. Tar tools never
// produce such entries; an archive that does is trying to make an
// extraction write outside the rootfs.
func checkNoWritesThroughSymlinks(f *os.File) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var guard untar.SymlinkGuard
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("invalid ACI: read tar: %w", err)
		}
		name, err := aci.EntryName(hdr.Name)
		if err != nil {
			return err
		}
		if err := guard.Check(name, hdr); err != nil {
			return fmt.Errorf("invalid ACI: %w", err)
		}
	}
}
