package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/appc/spec/schema"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

// features is rkt's "Features:" line: the optional parts of rkt a build
// has (+) or lacks (-). saturn records no TPM measurements and writes no
// systemd journal, so scripts that look for either learn it here.
const features = "-TPM -SDJOURNAL"

// stage1InterfaceVersion is the highest rkt stage1 ABI version saturn speaks.
const stage1InterfaceVersion = 5

func versionCommands(g *globals) []*command {
	return []*command{{
		name:  "version",
		short: "print saturn's version",
		run: func(g *globals, args []string) error {
			if len(args) != 0 {
				return usagef("version takes no arguments")
			}
			printVersion(g.Stdout)
			return nil
		},
	}}
}

// printVersion prints rkt's version lines, with saturn's name first.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "saturn Version: %s\n", Version)
	fmt.Fprintf(w, "appc Version: %s\n", schema.AppContainerVersion)
	fmt.Fprintf(w, "Go Version: %s\n", runtime.Version())
	fmt.Fprintf(w, "Go OS/Arch: %s/%s\n", runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "Features: %s\n", features)
}
