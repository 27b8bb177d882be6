// Command goexec is the floor of a Go process start for tests/bench: a
// static Go program that does nothing but exec its arguments, so
// "goexec goexec chroot ROOTFS /bin/true" costs what two Go exec hops
// (stage0, then stage1-fly's run entrypoint) cost before any real work
// (fly.sh), and three hops around unshare what stage0, stage1's run
// entrypoint and the pod's PID 1 cost (run.sh).
// It imports only os and syscall so that no package init adds to it.
package main

import (
	"os"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		os.Stderr.WriteString("usage: goexec /abs/path/to/program [args...]\n")
		os.Exit(2)
	}
	// No PATH lookup: the caller passes an absolute path, and a lookup
	// would be work the floor is not meant to contain.
	err := syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
	os.Stderr.WriteString("goexec: " + os.Args[1] + ": " + err.Error() + "\n")
	os.Exit(127)
}
