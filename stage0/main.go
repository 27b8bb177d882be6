// Command saturn is stage0 of the saturn pod runtime: it fetches and
// verifies images, prepares pods and execs the chosen stage1.
package main

import (
	"os"
)

func main() {
	os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
}
