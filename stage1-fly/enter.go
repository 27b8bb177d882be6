package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/stage1abi"
	"github.com/saturn-pods/saturn/stage2"
)

// enterMain runs a command in the app's mount namespace and rootfs with
// the app's environment: `enter --pid=PID --appname=NAME -- cmd args…`,
// cwd the pod directory. The command replaces this process, so its exit
// code is enter's.
func enterMain(args []string) int {
	f, err := stage1abi.ParseEnterFlags(args)
	if err != nil {
		logf("enter: %v", err)
		return exitFailure
	}
	if err := enter(f.PID, f.App, f.Cmd); err != nil {
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
	env, err := stage1abi.ReadEnv(p.stage1Rootfs(), p.appName())
	if err != nil {
		return fmt.Errorf("app environment: %w", err)
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
