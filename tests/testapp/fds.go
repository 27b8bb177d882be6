package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// inheritedFDs prints the fds the app was started with: those open
// without close-on-exec. The app's own (the Go runtime keeps its cgroup
// CPU limit files open, for one) are close-on-exec, as Go opens every
// file, so they are left out.
func inheritedFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fail(err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fl, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
		if errno == 0 && fl&syscall.FD_CLOEXEC == 0 {
			fmt.Println(fd)
		}
	}
	return 0
}
