package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/saturn-pods/saturn/clip"
	"github.com/saturn-pods/saturn/pod"
)

// attachCommands is `saturn attach`, as rkt's: it connects this terminal
// or these streams to an app whose stdio modes are tty or stream, through
// the stage1 attach entrypoint.
func attachCommands(g *globals) []*command {
	var app, mode string
	return []*command{{
		name:  "attach",
		usage: "[--app=NAME] [--mode=auto|list|tty|tty-in|tty-out|stdin|stdout|stderr,...] UUID",
		short: "attach to an app of a running pod (--stdin/--stdout/--stderr=tty|stream); Ctrl-P Ctrl-Q detaches",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&app, "app", "", "name of the app to attach to (default: the pod's only app)")
			fs.StringVar(&mode, "mode", "auto", "auto, list, or a comma-separated list of tty, tty-in, tty-out, stdin, stdout, stderr")
		},
		run: func(g *globals, args []string) error { return runAttach(g, args, app, mode) },
	}}
}

// attachArgs turns --mode into the attach entrypoint's arguments.
func attachArgs(mode string) ([]string, error) {
	switch mode {
	case "auto", "":
		return []string{"--action=auto-attach"}, nil
	case "list":
		return []string{"--action=list"}, nil
	}
	args := []string{"--action=custom-attach"}
	for _, m := range strings.Split(mode, ",") {
		var flags []string
		switch m {
		case "tty":
			flags = []string{"--tty-in=true", "--tty-out=true"}
		case "tty-in", "tty-out", "stdin", "stdout", "stderr":
			flags = []string{"--" + m + "=true"}
		default:
			return nil, usagef("invalid --mode %q (want auto, list, or a comma-separated list of tty, tty-in, tty-out, stdin, stdout, stderr)", clip.String(mode))
		}
		for _, f := range flags {
			if !slices.Contains(args, f) {
				args = append(args, f)
			}
		}
	}
	return args, nil
}

func runAttach(g *globals, args []string, app, mode string) error {
	if len(args) != 1 {
		return usagef("give a pod UUID")
	}
	modeArgs, err := attachArgs(mode)
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
	entry, ok, err := p.HostEntrypoint(pod.EntrypointAttach, hostTrees(g))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("pod %s: its stage1 has no %s entrypoint", p.UUID, pod.EntrypointAttach)
	}
	if err := os.Chdir(p.Path()); err != nil {
		return fmt.Errorf("enter pod directory: %w", err)
	}
	argv := append([]string{entry}, modeArgs...)
	argv = append(argv, "--app="+app)
	if g.Debug {
		argv = append(argv, "--debug")
	}
	g.debugf("exec %s", strings.Join(argv, " "))
	if err := syscall.Exec(entry, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec stage1 attach %s: %w", entry, err)
	}
	return nil
}
