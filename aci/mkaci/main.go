// Command mkaci builds an App Container Image from a directory holding
// `manifest` and `rootfs/`:
//
//	mkaci [--compression=none|gzip|bzip2|xz] [--overwrite] DIR OUT.aci
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saturn-pods/saturn/aci"
	"github.com/spf13/pflag"
)

func main() {
	err := run(os.Args[1:])
	if errors.Is(err, pflag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkaci:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := pflag.NewFlagSet("mkaci", pflag.ContinueOnError)
	comp := fs.String("compression", "gzip", "compression of the image: none, gzip, bzip2 or xz")
	overwrite := fs.Bool("overwrite", false, "replace OUT.aci if it exists")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mkaci [--compression=none|gzip|bzip2|xz] [--overwrite] DIR OUT.aci")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("need exactly DIR and OUT.aci")
	}
	c, err := aci.ParseCompression(*comp)
	if err != nil {
		return err
	}
	return build(fs.Arg(0), fs.Arg(1), c, *overwrite)
}

// build writes to a temporary file next to out and renames it into place,
// so a failed build never leaves a partial image behind.
func build(dir, out string, c aci.Compression, overwrite bool) error {
	if _, err := os.Lstat(out); err == nil && !overwrite {
		return fmt.Errorf("%s exists (use --overwrite)", out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".mkaci-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := aci.Build(dir, tmp, c); err != nil {
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
