// Command saturn is stage0 of the saturn pod runtime: it fetches and
// verifies images, prepares pods and execs the chosen stage1.
//
// saturn is a short-lived process whose start-up is on the path of
// every pod start, so the runtime does not read cgroup files to size
// GOMAXPROCS to a CPU quota (containermaxprocs) nor watch for changes
// to it (updatemaxprocs): stage0 does little in parallel, and what it
// runs next, stage1, is another program.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"os"
)

func main() {
	os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
}
