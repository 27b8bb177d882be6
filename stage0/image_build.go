package main

import (
	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/aci"
)

// imageBuildCommand is "image build", which rkt left to appc's actool:
// DIR (a manifest file and a rootfs/ directory) becomes an ACI file in
// one pass over the tree, device nodes, xattrs and hard links included,
// entries in sorted order so the same tree gives the same image id. It
// needs no store and no root (a tree with device nodes needs root to make,
// not to pack).
func imageBuildCommand() *command {
	var compression string
	var overwrite bool
	return &command{
		name:  "image build",
		usage: "[--compression=none|gzip|bzip2|xz] [--overwrite] DIR OUTPUT_ACI_FILE",
		short: "build an ACI file from a directory holding a manifest and rootfs/",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&compression, "compression", "gzip", "compression of the image: none, gzip, bzip2 or xz")
			fs.BoolVar(&overwrite, "overwrite", false, "overwrite the output ACI file")
		},
		run: func(g *globals, args []string) error {
			if len(args) != 2 {
				return usagef("image build needs a directory and an output file")
			}
			c, err := aci.ParseCompression(compression)
			if err != nil {
				return usagef("%v", err)
			}
			return aci.BuildFile(args[0], args[1], c, overwrite)
		},
	}
}
