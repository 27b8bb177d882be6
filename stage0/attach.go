package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/pod"
	"github.com/saturn-pods/saturn/stage1abi"
)

// attachCommands is `saturn attach`, as rkt's: it connects this terminal
// or these streams to an app whose stdio modes are tty or stream, through
// the stage1 attach entrypoint.
func attachCommands(g *globals) []*command {
	f := &attachCmdFlags{}
	return []*command{{
		name:  "attach",
		usage: "[--app=NAME] [--mode=auto|list|tty|tty-in|tty-out|stdin|stdout|stderr,...] UUID",
		short: "attach to an app of a running pod (--stdin/--stdout/--stderr=tty|stream); Ctrl-P Ctrl-Q detaches",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&f.app, "app", "", "name of the app to attach to (default: the pod's only app)")
			fs.StringVar(&f.mode, "mode", "auto", "auto, list, or a comma-separated list of tty, tty-in, tty-out, stdin, stdout, stderr")
		},
		run: func(g *globals, args []string) error { return runAttach(g, args, f) },
	}}
}

// attachCmdFlags are saturn attach's flags.
type attachCmdFlags struct{ app, mode string }

// attachFlags turns --mode into the attach entrypoint's arguments.
func attachFlags(mode string) (*stage1abi.AttachFlags, error) {
	switch mode {
	case "auto", "":
		return &stage1abi.AttachFlags{Action: stage1abi.AttachAuto}, nil
	case "list":
		return &stage1abi.AttachFlags{Action: stage1abi.AttachList}, nil
	}
	f := &stage1abi.AttachFlags{Action: stage1abi.AttachCustom}
	for _, m := range strings.Split(mode, ",") {
		switch m {
		case "tty":
			f.TTYIn, f.TTYOut = true, true
		case "tty-in":
			f.TTYIn = true
		case "tty-out":
			f.TTYOut = true
		case "stdin":
			f.Stdin = true
		case "stdout":
			f.Stdout = true
		case "stderr":
			f.Stderr = true
		default:
			return nil, usagef("invalid --mode %q (want auto, list, or a comma-separated list of tty, tty-in, tty-out, stdin, stdout, stderr)", clip.String(mode))
		}
	}
	return f, nil
}

func runAttach(g *globals, args []string, cf *attachCmdFlags) error {
	app := cf.app
	if len(args) != 1 {
		return usagef("give a pod UUID")
	}
	f, err := attachFlags(cf.mode)
	if err != nil {
		return err
	}
	if err := needRoot(); err != nil {
		return err
	}
	p, err := pod.Load(g.Dir, args[0])
	if err != nil {
		return err
	}
	if app, err = runningApp(p, app); err != nil {
		return err
	}
	entry, ok, err := p.HostEntrypoint(stage1abi.EntrypointAttach, hostTrees(g))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("pod %s: its stage1 has no %s entrypoint", p.UUID, stage1abi.EntrypointAttach)
	}
	if err := os.Chdir(p.Path()); err != nil {
		return fmt.Errorf("enter pod directory: %w", err)
	}
	f.App, f.Debug = app, g.Debug
	argv := append([]string{entry}, f.Args()...)
	g.debugf("exec %s", strings.Join(argv, " "))
	if err := syscall.Exec(entry, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec stage1 attach %s: %w", entry, err)
	}
	return nil
}
