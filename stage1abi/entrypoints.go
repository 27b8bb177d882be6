package stage1abi

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"
)

// EnterFlags are the enter entrypoint's arguments: --pid=PID
// --appname=NAME -- CMD ARGS…, run in the pod directory with the
// caller's environment and stdio. Without a command the stage1 picks a
// shell.
type EnterFlags struct {
	// PID is the pod's pid as the pid file has it; 0 when the caller
	// leaves the stage1 to read it.
	PID int
	App string
	Cmd []string
}

// Args renders f.
func (f *EnterFlags) Args() []string {
	args := []string{"--pid=" + strconv.Itoa(f.PID), "--appname=" + f.App, "--"}
	return append(args, f.Cmd...)
}

// ParseEnterFlags parses the enter entrypoint's arguments.
func ParseEnterFlags(args []string) (*EnterFlags, error) {
	f := &EnterFlags{}
	fs := pflag.NewFlagSet("enter", pflag.ContinueOnError)
	fs.IntVar(&f.PID, "pid", 0, "pid of the pod's process enter targets")
	fs.StringVar(&f.App, "appname", "", "app to enter")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if f.PID < 0 {
		return nil, fmt.Errorf("--pid=%d: not a pid", f.PID)
	}
	f.Cmd = fs.Args()
	return f, nil
}

// StopFlags are the stop entrypoint's arguments: [--force] UUID.
// --force kills the pod instead of stopping it gracefully.
type StopFlags struct {
	Force bool
	UUID  string
}

// Args renders f.
func (f *StopFlags) Args() []string {
	if f.Force {
		return []string{"--force", f.UUID}
	}
	return []string{f.UUID}
}

// ParseStopFlags parses the stop entrypoint's arguments.
func ParseStopFlags(args []string) (*StopFlags, error) {
	f := &StopFlags{}
	fs := pflag.NewFlagSet("stop", pflag.ContinueOnError)
	fs.BoolVar(&f.Force, "force", false, "kill the pod instead of stopping it gracefully")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var err error
	f.UUID, err = uuidArg(fs)
	return f, err
}

// GCFlags are the gc entrypoint's arguments: [--debug] UUID.
type GCFlags struct {
	Debug bool
	UUID  string
}

// Args renders f.
func (f *GCFlags) Args() []string {
	if f.Debug {
		return []string{"--debug", f.UUID}
	}
	return []string{f.UUID}
}

// ParseGCFlags parses the gc entrypoint's arguments.
func ParseGCFlags(args []string) (*GCFlags, error) {
	f := &GCFlags{}
	fs := pflag.NewFlagSet("gc", pflag.ContinueOnError)
	fs.BoolVar(&f.Debug, "debug", false, "print what is released")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var err error
	f.UUID, err = uuidArg(fs)
	return f, err
}

// Actions of the attach entrypoint.
const (
	AttachAuto   = "auto-attach"
	AttachList   = "list"
	AttachCustom = "custom-attach"
)

// AttachFlags are the attach entrypoint's arguments, as rkt's stage0
// passes them: --action, --app, with custom-attach the streams to
// attach, and --debug.
type AttachFlags struct {
	Action                               string
	App                                  string
	Debug                                bool
	TTYIn, TTYOut, Stdin, Stdout, Stderr bool
}

// Args renders f.
func (f *AttachFlags) Args() []string {
	args := []string{"--action=" + f.Action}
	for _, s := range []struct {
		on   bool
		name string
	}{{f.TTYIn, "tty-in"}, {f.TTYOut, "tty-out"}, {f.Stdin, "stdin"}, {f.Stdout, "stdout"}, {f.Stderr, "stderr"}} {
		if s.on {
			args = append(args, "--"+s.name+"=true")
		}
	}
	args = append(args, "--app="+f.App)
	if f.Debug {
		args = append(args, "--debug")
	}
	return args
}

// ParseAttachFlags parses the attach entrypoint's arguments.
func ParseAttachFlags(args []string) (*AttachFlags, error) {
	f := &AttachFlags{}
	fs := pflag.NewFlagSet("attach", pflag.ContinueOnError)
	fs.StringVar(&f.Action, "action", AttachAuto, "list, auto-attach or custom-attach")
	fs.StringVar(&f.App, "app", "", "app to attach to")
	fs.BoolVar(&f.Debug, "debug", false, "print debug messages")
	fs.BoolVar(&f.TTYIn, "tty-in", false, "attach the app's terminal input")
	fs.BoolVar(&f.TTYOut, "tty-out", false, "attach the app's terminal output")
	fs.BoolVar(&f.Stdin, "stdin", false, "attach the app's stdin stream")
	fs.BoolVar(&f.Stdout, "stdout", false, "attach the app's stdout stream")
	fs.BoolVar(&f.Stderr, "stderr", false, "attach the app's stderr stream")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	switch f.Action {
	case AttachAuto, AttachList, AttachCustom:
	default:
		return nil, fmt.Errorf("--action=%s: want list, auto-attach or custom-attach", f.Action)
	}
	return f, nil
}

// UpdateFlags are the arguments of saturn's update entrypoint: the new
// limits of the pod, or of one app, of a running pod. Empty or zero
// leaves a limit as it is.
type UpdateFlags struct {
	App       string
	Memory    string
	CPU       string
	CPUShares uint64
	UUID      string
}

// Args renders f.
func (f *UpdateFlags) Args() []string {
	var args []string
	if f.App != "" {
		args = append(args, "--app="+f.App)
	}
	if f.Memory != "" {
		args = append(args, "--memory="+f.Memory)
	}
	if f.CPU != "" {
		args = append(args, "--cpu="+f.CPU)
	}
	if f.CPUShares != 0 {
		args = append(args, "--cpu-shares="+strconv.FormatUint(f.CPUShares, 10))
	}
	return append(args, f.UUID)
}

// ParseUpdateFlags parses the update entrypoint's arguments.
func ParseUpdateFlags(args []string) (*UpdateFlags, error) {
	f := &UpdateFlags{}
	fs := pflag.NewFlagSet("update", pflag.ContinueOnError)
	fs.StringVar(&f.App, "app", "", "the app to change (default: the whole pod)")
	fs.StringVar(&f.Memory, "memory", "", "memory limit (e.g. 64M)")
	fs.StringVar(&f.CPU, "cpu", "", "cpu limit (e.g. 250m, a quarter CPU)")
	fs.Uint64Var(&f.CPUShares, "cpu-shares", 0, "cpu shares (2-262144)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var err error
	f.UUID, err = uuidArg(fs)
	return f, err
}

// ParseStatsFlags parses the arguments of saturn's stats entrypoint, the
// pod's UUID, and returns it.
func ParseStatsFlags(args []string) (string, error) {
	fs := pflag.NewFlagSet("stats", pflag.ContinueOnError)
	if err := parse(fs, args); err != nil {
		return "", err
	}
	return uuidArg(fs)
}
