package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/appc/spec/schema/types"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/pod"
	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/store"
)

// podCommands are the pod commands: run, prepare, run-prepared, list,
// status, stop, rm, gc, cat-manifest and enter. Each has a flags struct
// of its own.
func podCommands(g *globals) []*command {
	return append(runCommands(g), listCommand(), statusCommand(), stopCommand(), rmCommand(),
		podGCCommand(), catManifestCommand(), enterCommand())
}

// podsFlag is --uuid-file, by which the commands that name pods may read
// the one pod's UUID from a file instead.
type podsFlag struct{ uuidFile string }

func (f *podsFlag) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.uuidFile, "uuid-file", "", "read the pod UUID from this file")
}

func listCommand() *command {
	f := &listFlags{}
	return &command{
		name:  "list",
		short: "list pods",
		flags: f.add,
		run:   func(g *globals, args []string) error { return runList(g, f, args) },
	}
}

type statusFlags struct {
	podsFlag
	wait, waitReady, format string
}

func statusCommand() *command {
	f := &statusFlags{}
	return &command{
		name:  "status",
		usage: "[--wait[=DURATION]] [--wait-ready[=DURATION]] [--format=json|json-pretty] UUID",
		short: "print a pod's state, pid and apps' exit statuses",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&f.wait, "wait", "false", "wait for the pod to finish: true, false or a duration")
			fs.StringVar(&f.waitReady, "wait-ready", "false", "wait for the pod to be ready: true, false or a duration")
			fs.Lookup("wait").NoOptDefVal = "true"
			fs.Lookup("wait-ready").NoOptDefVal = "true"
			fs.StringVar(&f.format, "format", "", "output format: json or json-pretty (default: key=value lines)")
			f.podsFlag.add(fs)
		},
		run: func(g *globals, args []string) error { return runStatus(g, args, f) },
	}
}

type stopFlags struct {
	podsFlag
	force bool
}

func stopCommand() *command {
	f := &stopFlags{}
	return &command{
		name:  "stop",
		usage: "[--force] UUID...",
		short: "stop running pods",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&f.force, "force", false, "kill the pod instead of asking it to stop")
			f.podsFlag.add(fs)
		},
		run: func(g *globals, args []string) error { return runStop(g, args, f) },
	}
}

func rmCommand() *command {
	f := &podsFlag{}
	return &command{
		name:  "rm",
		usage: "UUID...",
		short: "remove exited or prepared pods now",
		flags: f.add,
		run:   func(g *globals, args []string) error { return runRm(g, args, f) },
	}
}

type podGCFlags struct {
	grace, expire time.Duration
	markOnly      bool
}

func podGCCommand() *command {
	f := &podGCFlags{}
	return &command{
		name:  "gc",
		usage: "[--grace-period=DURATION] [--expire-prepared=DURATION] [--mark-only]",
		short: "garbage-collect exited pods",
		flags: func(fs *pflag.FlagSet) {
			fs.DurationVar(&f.grace, "grace-period", 30*time.Minute, "how long exited pods stay in the garbage before removal")
			fs.DurationVar(&f.expire, "expire-prepared", 24*time.Hour, "how long prepared pods may wait before they expire")
			fs.BoolVar(&f.markOnly, "mark-only", false, "only move exited pods to the garbage, remove nothing")
		},
		run: func(g *globals, args []string) error { return runPodGC(g, args, f) },
	}
}

func runPodGC(g *globals, args []string, f *podGCFlags) error {
	if len(args) != 0 {
		return usagef("gc takes no arguments")
	}
	// A negative duration would remove exited pods at once and expire
	// every prepared pod, as image gc refuses to.
	if f.grace < 0 {
		return usagef("--grace-period must not be negative")
	}
	if f.expire < 0 {
		return usagef("--expire-prepared must not be negative")
	}
	c, st, err := rootCleaner(g)
	if err != nil {
		return err
	}
	defer st.Close()
	c.Stdout = g.Stdout
	return c.GC(g.Dir, pod.GCOptions{GracePeriod: f.grace, ExpirePrepared: f.expire, MarkOnly: f.markOnly})
}

// rootCleaner is the pod cleaner of gc and rm, which need root, over the
// store, which the caller closes.
func rootCleaner(g *globals) (*pod.Cleaner, *store.Store, error) {
	if err := needRoot(); err != nil {
		return nil, nil, err
	}
	st, err := openStore(g)
	if err != nil {
		return nil, nil, err
	}
	return cleaner(g, st), st, nil
}

type catManifestFlags struct {
	podsFlag
	prettyPrint bool
}

func catManifestCommand() *command {
	f := &catManifestFlags{}
	return &command{
		name:  "cat-manifest",
		usage: "[--pretty-print] UUID",
		short: "print a pod's manifest",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&f.prettyPrint, "pretty-print", true, "indent the output")
			f.podsFlag.add(fs)
		},
		run: func(g *globals, args []string) error { return runCatManifest(g, args, f) },
	}
}

func enterCommand() *command {
	return &command{
		name:    "enter",
		usage:   "[--app=NAME] UUID [CMD [ARGS...]]",
		short:   "run a command in a running pod's app",
		rawArgs: true,
		run:     runEnter,
	}
}

// podArg is the one pod a command names by UUID (prefix) or --uuid-file.
func podArg(args []string, uuidFile string) (string, error) {
	uuids, err := podUUIDArgs(args, uuidFile)
	if err != nil {
		return "", err
	}
	if len(uuids) != 1 {
		return "", usagef("give exactly one pod UUID")
	}
	return uuids[0], nil
}

func podUUIDArgs(args []string, uuidFile string) ([]string, error) {
	if uuidFile != "" {
		if len(args) != 0 {
			return nil, usagef("give pod UUIDs or --uuid-file, not both")
		}
		u, err := pod.ReadUUIDFile(uuidFile)
		if err != nil {
			return nil, err
		}
		return []string{u}, nil
	}
	if len(args) == 0 {
		return nil, usagef("give a pod UUID")
	}
	return args, nil
}

// parseWait reads rkt's --wait values: true (forever, as a negative
// duration), false (0) or a duration.
func parseWait(flag, s string) (time.Duration, error) {
	if b, err := strconv.ParseBool(s); err == nil {
		if b {
			return -1, nil
		}
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, usagef("invalid --%s %q (want true, false or a duration)", flag, s)
	}
	return d, nil
}

func waitContext(d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(context.Background(), d)
	}
	return context.WithCancel(context.Background())
}

func runStatus(g *globals, args []string, f *statusFlags) error {
	uuid, err := podArg(args, f.uuidFile)
	if err != nil {
		return err
	}
	if err := checkFormat(f.format); err != nil {
		return err
	}
	dWait, err := parseWait("wait", f.wait)
	if err != nil {
		return err
	}
	dReady, err := parseWait("wait-ready", f.waitReady)
	if err != nil {
		return err
	}
	p, err := pod.Load(g.Dir, uuid)
	if err != nil {
		return err
	}
	if dReady != 0 {
		ctx, cancel := waitContext(dReady)
		err := p.WaitReady(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %v waiting for pod %s to be ready", dReady, p.UUID)
		}
		if err != nil {
			return err
		}
	}
	if dWait != 0 {
		ctx, cancel := waitContext(dWait)
		err := p.WaitFinished(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %v waiting for pod %s to exit", dWait, p.UUID)
		}
		if err != nil {
			return err
		}
	}
	if err := p.Refresh(); err != nil {
		return err
	}
	waitExitStatus(p, 2*time.Second)
	usage := appUsage(g, p)
	if f.format != "" {
		j := newPodJSON(p)
		usage.addJSON(j)
		return printJSON(g.Stdout, j, f.format == "json-pretty")
	}
	if err := printStatus(g.Stdout, p); err != nil {
		return err
	}
	usage.print(g.Stdout)
	return nil
}

// printStatus prints rkt's key=value status lines.
func printStatus(w io.Writer, p *pod.Pod) error {
	state := p.State()
	fmt.Fprintf(w, "state=%s\n", state)
	if t := p.CreationTime(); !t.IsZero() {
		fmt.Fprintf(w, "created=%s\n", t.Format(timeLayout))
	}
	if t := p.StartTime(); !t.IsZero() {
		fmt.Fprintf(w, "started=%s\n", t.Format(timeLayout))
	}
	switch state {
	case pod.StateRunning, pod.StateExited, pod.StateExitedGarbage, pod.StateExitedDeleting, pod.StateDeleting:
	default:
		return nil
	}
	// An exited pod still says where it was attached: scripts read the
	// line after the pod ended too.
	fmt.Fprintf(w, "networks=%s\n", pod.FormatNetworks(p.Networks()))
	// Just after start the pid file may not be written yet.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	pid, err := p.WaitPid(ctx)
	cancel()
	if err != nil {
		pid = -1
	}
	fmt.Fprintf(w, "pid=%d\nexited=%t\n", pid, p.Exited())
	if state == pod.StateRunning {
		return nil
	}
	pm, err := p.Manifest()
	if err != nil {
		return err
	}
	for _, ra := range pm.Apps {
		if code, err := p.AppExitCode(ra.Name.String()); err == nil {
			fmt.Fprintf(w, "app-%s=%d\n", ra.Name, code)
		}
	}
	return nil
}

func runStop(g *globals, args []string, f *stopFlags) error {
	uuids, err := podUUIDArgs(args, f.uuidFile)
	if err != nil {
		return err
	}
	if err := needRoot(); err != nil {
		return err
	}
	failed := 0
	for _, u := range uuids {
		p, err := pod.Load(g.Dir, u)
		if err == nil && (p.Exited() || p.State() == pod.StateDeleting) {
			// As rkt: stopping what has stopped is no failure.
			fmt.Fprintf(g.Stdout, "pod %q is already stopped\n", p.UUID)
			continue
		}
		if err == nil {
			err = stopPod(g, p, f.force)
		}
		if err != nil {
			fmt.Fprintf(g.Stderr, "saturn stop: %v\n", err)
			failed++
			continue
		}
		fmt.Fprintf(g.Stdout, "%q\n", p.UUID)
	}
	if failed > 0 {
		return &exitCodeError{code: exitError, err: fmt.Errorf("failed to stop %d pod(s)", failed)}
	}
	return nil
}

// stopPod runs the stage1 stop entrypoint; a stage1 without one gets its
// pod's pid signalled (TERM, or KILL with --force).
func stopPod(g *globals, p *pod.Pod, force bool) error {
	if !p.Running() {
		return fmt.Errorf("pod %q is not running (%s)", p.UUID, p.State())
	}
	entry, ok, err := p.HostEntrypoint(stage1abi.EntrypointStop, hostTrees(g))
	if err != nil {
		return err
	}
	if ok {
		args := (&stage1abi.StopFlags{Force: force, UUID: p.UUID}).Args()
		return p.RunStage1(entry, args, nil, g.Stderr, g.Stderr)
	}
	pid, err := p.Pid()
	if err != nil {
		return fmt.Errorf("pod %s: %w", p.UUID, err)
	}
	sig := unix.SIGTERM
	if force {
		sig = unix.SIGKILL
	}
	if err := p.SignalRunning(pid, sig); err != nil {
		return fmt.Errorf("signal pod %s: %w", p.UUID, err)
	}
	return nil
}

func runRm(g *globals, args []string, f *podsFlag) error {
	uuids, err := podUUIDArgs(args, f.uuidFile)
	if err != nil {
		return err
	}
	c, st, err := rootCleaner(g)
	if err != nil {
		return err
	}
	defer st.Close()
	var failed bool
	for _, u := range uuids {
		p, err := pod.Load(g.Dir, u)
		if err == nil {
			err = c.Remove(p)
		}
		if err != nil {
			fmt.Fprintf(g.Stderr, "saturn rm: %v\n", err)
			failed = true
			continue
		}
		fmt.Fprintf(g.Stdout, "%q\n", p.UUID)
	}
	if failed {
		return &exitCodeError{code: exitError}
	}
	return nil
}

func runCatManifest(g *globals, args []string, f *catManifestFlags) error {
	uuid, err := podArg(args, f.uuidFile)
	if err != nil {
		return err
	}
	p, err := pod.Load(g.Dir, uuid)
	if err != nil {
		return err
	}
	pm, err := p.Manifest()
	if err != nil {
		return err
	}
	return printJSON(g.Stdout, pm, f.prettyPrint)
}

// runEnter parses its own flags so that everything after the UUID is the
// command, flags included.
func runEnter(g *globals, args []string) error {
	fs := pflag.NewFlagSet("saturn enter", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(false)
	newGlobals(nil, nil).addFlags(fs)
	app := fs.String("app", "", "name of the app to enter")
	help := fs.BoolP("help", "h", false, "show help for enter")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if *help {
		fmt.Fprintf(g.Stdout, "saturn enter\n\nUsage: saturn enter [--app=NAME] UUID [CMD [ARGS...]]\n\nFlags:\n%s", fs.FlagUsages())
		return nil
	}
	if err := applyGlobalFlags(g, fs); err != nil {
		return usagef("%v", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usagef("give a pod UUID")
	}
	if err := needRoot(); err != nil {
		return err
	}
	cmd := rest[1:]
	p, err := pod.Load(g.Dir, rest[0])
	if err != nil {
		return err
	}
	return enterPod(g, p, *app, cmd)
}

func enterPod(g *globals, p *pod.Pod, app string, cmd []string) error {
	app, err := runningApp(p, app)
	if err != nil {
		return err
	}
	if len(cmd) == 0 {
		cmd = []string{defaultEnterShell(p.Path(), app)}
	}
	entry, ok, err := p.HostEntrypoint(stage1abi.EntrypointEnter, hostTrees(g))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("pod %s: its stage1 has no %s entrypoint", p.UUID, stage1abi.EntrypointEnter)
	}
	pid, err := p.Pid()
	if err != nil {
		return fmt.Errorf("pod %s: %w", p.UUID, err)
	}
	if err := os.Chdir(p.Path()); err != nil {
		return fmt.Errorf("enter pod directory: %w", err)
	}
	argv := append([]string{entry}, (&stage1abi.EnterFlags{PID: pid, App: app, Cmd: cmd}).Args()...)
	g.debugf("exec %s", strings.Join(argv, " "))
	// exec, so that the command's exit status is saturn enter's.
	if err := syscall.Exec(entry, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec stage1 enter %s: %w", entry, err)
	}
	return nil
}

// runningApp checks that pod p runs and returns the name of its app
// called app, or of its only app when app is "".
func runningApp(p *pod.Pod, app string) (string, error) {
	if !p.Running() {
		return "", fmt.Errorf("pod %s is not running (%s)", p.UUID, p.State())
	}
	pm, err := p.Manifest()
	if err != nil {
		return "", err
	}
	var names []string
	for _, ra := range pm.Apps {
		names = append(names, ra.Name.String())
	}
	switch {
	case app == "" && len(names) == 1:
		app = names[0]
	case app == "":
		sort.Strings(names)
		return "", usagef("pod %s has several apps (%s): choose one with --app", p.UUID, strings.Join(names, ", "))
	case pm.Apps.Get(types.ACName(app)) == nil:
		return "", fmt.Errorf("pod %s has no app %q", p.UUID, app)
	}
	return app, nil
}

// hostTrees locates stage1 trees in the store without opening it, for
// entrypoints stage0 runs on the host.
func hostTrees(g *globals) pod.TreeLocator {
	return func(treeID string) (string, error) { return store.TreePathIn(g.Dir, treeID), nil }
}
