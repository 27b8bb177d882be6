// Command stage1-nspawn is saturn's isolating stage1. One static binary
// serves every entrypoint of the stage1 ABI, picked by the name it is run
// as: run (also "init"), enter, stop and gc, plus two names it only gives
// itself when it re-execs: the pod's PID 1 and the stage2 helper.
//
// Every process of this binary lives for milliseconds to the length of one
// pod, so the runtime does not start its goroutine that re-reads the
// cgroup CPU limit every second (updatemaxprocs). containermaxprocs=0 is
// not set: in Go 1.26 the runtime reads the cgroup files at start-up
// whatever its value, so it would only change GOMAXPROCS under a quota.
//
//go:debug updatemaxprocs=0
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/saturn-pods/saturn/stage2/launch"
)

// Names this binary re-execs itself under.
const (
	podInitName = "saturn-pod-init"
	stage2Name  = "saturn-stage2"
)

// exitStage1 is the exit code for failures of stage1 itself, as in rkt.
const exitStage1 = 254

// The main goroutine holds the main thread for the process's whole life:
// the pod's PID 1 starts apps with launch.Start, which leaves the thread
// it forks from with the app's bounding set and has it ended, and the
// main thread cannot end (see launch.Start).
func init() { runtime.LockOSThread() }

func main() {
	os.Exit(dispatch(filepath.Base(os.Args[0]), os.Args[1:]))
}

func dispatch(name string, args []string) int {
	switch name {
	case "run", "init":
		return runMain(args)
	case "enter":
		return enterMain(args)
	case "attach":
		return attachMain(args)
	case "stop":
		return stopMain(args)
	case "gc":
		return gcMain(args)
	case "update":
		return updateMain(args)
	case "stats":
		return statsMain(args)
	case podInitName:
		return podMain(args)
	case stage2Name:
		return launch.Main(args)
	}
	fmt.Fprintf(os.Stderr, "stage1: unknown entrypoint %q\n", name)
	return exitStage1
}

// fail prints err the way every entrypoint reports a failure and returns
// the stage1 failure exit code.
func fail(err error) int {
	fmt.Fprintf(os.Stderr, "stage1: %v\n", err)
	return exitStage1
}
