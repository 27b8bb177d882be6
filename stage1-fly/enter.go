package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage2"
)

// enterMain runs a command in the app's mount namespace and rootfs with
// the app's environment: `enter --pid=PID --appname=NAME -- cmd args…`,
// cwd the pod directory. The command replaces this process, so its exit
// code is enter's.
func enterMain(args []string) int {
	fs := pflag.NewFlagSet("enter", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	pid := fs.Int("pid", 0, "pid of the pod's process")
	app := fs.String("appname", "", "app to enter")
	if err := fs.Parse(args); err != nil {
		logf("enter: %v", err)
		return exitFailure
	}
	if err := enter(*pid, *app, fs.Args()); err != nil {
		logf("enter: %v", err)
		return exitFailure
	}
	return 0
}

func enter(pid int, app string, cmd []string) error {
	if pid <= 0 {
		return fmt.Errorf("--pid must be the pod's pid, got %d", pid)
	}
	if len(cmd) == 0 {
		return fmt.Errorf("no command to run")
	}
	p, err := loadPod(".")
	if err != nil {
		return err
	}
	if app != "" && app != p.appName() {
		return fmt.Errorf("the pod has no app %q (its app is %s)", app, p.appName())
	}
	env, err := readEnv(filepath.Join(p.rktDir(), "env", p.appName()))
	if err != nil {
		return err
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return fmt.Errorf("pod process %d: %w", pid, err)
	}
	defer ns.Close()
	// setns into a mount namespace needs a thread that shares its
	// filesystem context with no other; main is locked to its thread
	// (see init) and the command is exec'ed from it, so unsharing that
	// thread's fs context is enough.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join the mount namespace of %d: %w", pid, err)
	}
	// A session keyring of its own, never the caller's, as the app has.
	spec := &stage2.Spec{Root: p.rootfs(), Args: cmd, Env: env, NewSessionKeyring: true}
	if err := stage2.CheckExec(spec.Root, spec.Args, spec.Env); err != nil {
		return err
	}
	return stage2.Exec(spec)
}

// readEnv reads the KEY=VALUE lines run wrote for the app.
func readEnv(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("app environment: %w", err)
	}
	var env []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			env = append(env, l)
		}
	}
	return env, nil
}
