// Command stage1-fly is saturn's chroot-only stage1: it runs the one app
// of a pod chrooted into its rootfs on the host's namespaces, in a private
// mount namespace of its own, with no supervisor but run itself, which
// stays the app's parent (supervise.go). One binary serves every
// entrypoint; the name it is called by (the stage1 image links run,
// enter, gc and stop to it) picks which.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	// Imported for its side effect too: its init runs the exit
	// watcher's processes (the binary re-executed), before the heavier
	// packages below are initialized.
	_ "github.com/saturn-pods/saturn/stage1-fly/flywatch"
)

// The stage1 ABI's exit code for a failure of stage1 itself.
const exitFailure = 254

func init() {
	// Keep main on the process's first thread (the thread group leader):
	// run unshares the mount namespace of this thread and forks or execs
	// the app from it, enter setns'es it into the pod's mount namespace,
	// and an exec from the leader keeps the exit watcher from seeing the
	// leader "exit" when the other threads are torn down.
	runtime.LockOSThread()
}

func main() {
	os.Exit(dispatch(os.Args))
}

func dispatch(args []string) int {
	name := filepath.Base(args[0])
	switch name {
	case "run":
		return runMain(args[1:])
	case "enter":
		return enterMain(args[1:])
	case "gc":
		return gcMain(args[1:])
	case "stop":
		return stopMain(args[1:])
	}
	fmt.Fprintf(os.Stderr, "stage1-fly: called as %q; expected run, enter, gc or stop\n", name)
	return exitFailure
}

// logf prints a stage1 message to stderr.
func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "stage1-fly: "+format+"\n", a...)
}
