package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// Exit codes follow rkt: 254 for any failure of stage0 itself, usage
// errors included (rkt's commands print their usage and return 254), so
// scripts written against rkt see the same codes.
const (
	exitOK    = 0
	exitUsage = 254
	exitError = 254
)

// command is one saturn subcommand. Its name may have several words
// ("image list"); the longest matching name wins.
type command struct {
	name  string
	usage string // argument synopsis after the name
	short string
	// flags adds the command's own flags; global flags are always added.
	flags func(fs *pflag.FlagSet)
	// rawArgs hands everything after the command name to run unparsed
	// (global flags before the name are still parsed). run needs this
	// because its per-app flags follow each image.
	rawArgs bool
	// hidden commands work but are not listed (aliases kept for rkt's
	// users, such as "image fetch").
	hidden bool
	run    func(g *globals, args []string) error
}

// usageError is returned by commands for bad invocations; it prints the
// command's usage hint as well as the error.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

// exitCodeError lets a command choose its exit code (enter returns the
// command's) without printing anything more.
type exitCodeError struct {
	code int
	err  error // may be nil: then nothing is printed
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

// commandTable returns every subcommand. Each command family lives in its
// own file and contributes a constructor here.
func commandTable(g *globals) []*command {
	var cmds []*command
	cmds = append(cmds, versionCommands(g)...)
	cmds = append(cmds, configCommands(g)...)
	cmds = append(cmds, imageCommands(g)...)
	cmds = append(cmds, podCommands(g)...)
	cmds = append(cmds, attachCommands(g)...)
	cmds = append(cmds, updateCommands(g)...)
	cmds = append(cmds, trustCommands(g)...)
	cmds = append(cmds, verifyCommands(g)...)
	return cmds
}

// findCommand picks the longest command name made of the leading
// non-flag words of args, skipping the flags that precede it (rkt's cobra
// root took any flag of the command there). pre holds those flags, each
// with the value it took when given as a separate word.
func findCommand(cmds []*command, args []string) (*command, [][]string, []string) {
	var pre [][]string
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		group := []string{args[i]}
		if i+1 < len(args) && takesValue(cmds, args[i], args[i+1]) {
			group = append(group, args[i+1])
			i++
		}
		pre = append(pre, group)
		i++
	}
	rest := args[i:]
	var best *command
	bestLen := 0
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(words) > len(rest) || len(words) <= bestLen {
			continue
		}
		match := true
		for j, w := range words {
			if rest[j] != w {
				match = false
				break
			}
		}
		if match {
			best, bestLen = c, len(words)
		}
	}
	if best == nil {
		return nil, pre, rest
	}
	return best, pre, rest[bestLen:]
}

// takesValue reports whether a flag given before the command name
// without "=" consumes the next word. Global flags are known; a flag of
// the command is not known yet, so it takes the next word unless that
// word is a flag or starts a command, as cobra's root command decided.
func takesValue(cmds []*command, arg, next string) bool {
	if strings.Contains(arg, "=") || strings.HasPrefix(next, "-") {
		return false
	}
	name := strings.TrimLeft(arg, "-")
	fs := pflag.NewFlagSet("globals", pflag.ContinueOnError)
	newGlobals(nil, nil).addFlags(fs)
	addTopFlags(fs)
	if f := fs.Lookup(name); f != nil {
		return f.NoOptDefVal == ""
	}
	if len(name) == 1 {
		if f := fs.ShorthandLookup(name); f != nil {
			return f.NoOptDefVal == ""
		}
	}
	for _, c := range cmds {
		if w, _, _ := strings.Cut(c.name, " "); w == next {
			return false
		}
	}
	return true
}

// addTopFlags adds the flags saturn takes with no command.
func addTopFlags(fs *pflag.FlagSet) {
	fs.BoolP("help", "h", false, "help for saturn")
	fs.Bool("version", false, "print saturn's version (as 'saturn version')")
}

// flatten joins the flag groups findCommand returned.
func flatten(groups [][]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// splitGlobalFlags separates the global flags among groups from the
// command's own, which a command parsing its arguments itself (rawArgs)
// receives before the rest.
func splitGlobalFlags(groups [][]string) (global, own []string) {
	fs := pflag.NewFlagSet("globals", pflag.ContinueOnError)
	newGlobals(nil, nil).addFlags(fs)
	for _, g := range groups {
		name, _, _ := strings.Cut(strings.TrimLeft(g[0], "-"), "=")
		if fs.Lookup(name) != nil {
			global = append(global, g...)
		} else {
			own = append(own, g...)
		}
	}
	return global, own
}

func runCLI(args []string, stdout, stderr io.Writer) int {
	g := newGlobals(stdout, stderr)
	cmds := commandTable(g)
	cmd, preGroups, rest := findCommand(cmds, args)
	pre := flatten(preGroups)
	if cmd == nil {
		return runNoCommand(g, cmds, pre, rest)
	}
	fs, help := commandFlags(g, cmd)
	parseArgs := append(pre, rest...)
	cmdArgs := []string(nil)
	if cmd.rawArgs {
		// The command parses its own flags, those given before its name
		// too; only the global ones are taken here.
		global, own := splitGlobalFlags(preGroups)
		parseArgs = global
		cmdArgs = append(own, rest...)
	}
	if err := fs.Parse(parseArgs); err != nil {
		fmt.Fprintf(stderr, "saturn %s: %v\n", cmd.name, err)
		fmt.Fprintf(stderr, "usage: saturn %s %s\n", cmd.name, cmd.usage)
		return exitUsage
	}
	if *help {
		printCommandHelp(stdout, cmd, fs)
		return exitOK
	}
	if !cmd.rawArgs {
		cmdArgs = fs.Args()
	}
	if err := g.finish(); err != nil {
		fmt.Fprintf(stderr, "saturn: %v\n", err)
		return exitUsage
	}
	stop, err := g.startProfile()
	if err != nil {
		fmt.Fprintf(stderr, "saturn: %v\n", err)
		return exitError
	}
	defer stop()
	return reportError(stderr, cmd, cmd.run(g, cmdArgs))
}

// runNoCommand answers an invocation naming no command: help, version,
// the commands of a group ("saturn image"), or rkt's "missing command".
func runNoCommand(g *globals, cmds []*command, pre, rest []string) int {
	stdout, stderr := g.Stdout, g.Stderr
	fs := pflag.NewFlagSet("saturn", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.addFlags(fs)
	addTopFlags(fs)
	if err := fs.Parse(append(pre, rest...)); err != nil {
		if len(rest) > 0 && len(subcommands(cmds, rest[:1])) == 0 {
			err = fmt.Errorf("unknown command %q (see 'saturn help')", rest[0])
		}
		fmt.Fprintf(stderr, "saturn: %v\n", err)
		return exitUsage
	}
	words := fs.Args()
	help, _ := fs.GetBool("help")
	if version, _ := fs.GetBool("version"); version && len(words) == 0 {
		printVersion(stdout)
		return exitOK
	}
	if len(words) > 0 && words[0] == "help" {
		return helpFor(g, cmds, words[1:], stdout, stderr)
	}
	if len(words) == 0 {
		if help {
			printHelp(stdout, cmds)
			return exitOK
		}
		// As rkt: a usage error, with the help to say what to type.
		fmt.Fprintln(stderr, "saturn: missing command")
		printHelp(stdout, cmds)
		return exitUsage
	}
	return groupHelp(cmds, words, stdout, stderr, "saturn")
}

// groupHelp lists the commands of the group words names ("image"), or
// says that there is no such command; who starts the error.
func groupHelp(cmds []*command, words []string, stdout, stderr io.Writer, who string) int {
	if sub := subcommands(cmds, words); len(sub) > 0 {
		printGroupHelp(stdout, strings.Join(words, " "), sub)
		return exitOK
	}
	fmt.Fprintf(stderr, "%s: unknown command %q (see 'saturn help')\n", who, strings.Join(words, " "))
	return exitUsage
}

// commandFlags is the flag set of cmd: the global flags, its own and
// --help.
func commandFlags(g *globals, cmd *command) (*pflag.FlagSet, *bool) {
	fs := pflag.NewFlagSet("saturn "+cmd.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.addFlags(fs)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	return fs, fs.BoolP("help", "h", false, "show help for "+cmd.name)
}

// helpFor answers "saturn help [command words]".
func helpFor(g *globals, cmds []*command, words []string, stdout, stderr io.Writer) int {
	if len(words) == 0 {
		printHelp(stdout, cmds)
		return exitOK
	}
	if cmd, _, rest := findCommand(cmds, words); cmd != nil && len(rest) == 0 && !cmd.hidden {
		fs, _ := commandFlags(g, cmd)
		printCommandHelp(stdout, cmd, fs)
		return exitOK
	}
	return groupHelp(cmds, words, stdout, stderr, "saturn help")
}

// subcommands lists the commands whose names start with the words given,
// so "saturn image" can say what follows it.
func subcommands(cmds []*command, words []string) []*command {
	prefix := strings.Join(words, " ") + " "
	var out []*command
	for _, c := range cmds {
		if strings.HasPrefix(c.name, prefix) && !c.hidden {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func printGroupHelp(w io.Writer, group string, cmds []*command) {
	fmt.Fprintf(w, "Usage: saturn %s <command> [flags] [args]\n\nCommands:\n", group)
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-22s %s\n", c.name, c.short)
	}
}

func reportError(stderr io.Writer, cmd *command, err error) int {
	if err == nil {
		return exitOK
	}
	var ce *exitCodeError
	if errors.As(err, &ce) {
		if ce.err != nil {
			fmt.Fprintf(stderr, "saturn %s: %v\n", cmd.name, ce.err)
		}
		return ce.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "saturn %s: %v\n", cmd.name, err)
		fmt.Fprintf(stderr, "usage: saturn %s %s\n", cmd.name, cmd.usage)
		return exitUsage
	}
	fmt.Fprintf(stderr, "saturn %s: %v\n", cmd.name, err)
	return exitError
}

func printHelp(w io.Writer, cmds []*command) {
	fmt.Fprintln(w, "saturn - App Container pod runtime")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: saturn [global flags] <command> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	sorted := append([]*command(nil), cmds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		if !c.hidden {
			fmt.Fprintf(w, "  %-22s %s\n", c.name, c.short)
		}
	}
	fmt.Fprintln(w)
	fs := pflag.NewFlagSet("saturn", pflag.ContinueOnError)
	newGlobals(w, w).addFlags(fs)
	fmt.Fprintln(w, "Global flags:")
	fmt.Fprint(w, fs.FlagUsages())
}

func printCommandHelp(w io.Writer, c *command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "saturn %s - %s\n\nUsage: saturn %s %s\n\nFlags:\n", c.name, c.short, c.name, c.usage)
	fmt.Fprint(w, fs.FlagUsages())
}
