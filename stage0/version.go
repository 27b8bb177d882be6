package main

import (
	"fmt"
	"runtime"

	"github.com/appc/spec/schema"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

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
			fmt.Fprintf(g.Stdout, "saturn Version: %s\n", Version)
			fmt.Fprintf(g.Stdout, "appc Version: %s\n", schema.AppContainerVersion)
			fmt.Fprintf(g.Stdout, "Go Version: %s\n", runtime.Version())
			fmt.Fprintf(g.Stdout, "Go OS/Arch: %s/%s\n", runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}}
}
