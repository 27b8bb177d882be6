// Command mkaci builds an App Container Image from a directory holding
// `manifest` and `rootfs/`:
//
//	mkaci [--compression=none|gzip|bzip2|xz] [--overwrite] DIR OUT.aci
package main

import (
	"errors"
	"fmt"
	"os"

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
	return aci.BuildFile(fs.Arg(0), fs.Arg(1), c, *overwrite)
}
