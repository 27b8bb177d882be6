package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// mountBeside PIDFILE DONE mounts a tmpfs with a file "marker" in it twice:
// on /mnt-own in its own rootfs ("own: mounted" or "own: ERROR"), then, once
// PIDFILE names another process of the pod, on that process's /tmp
// reached through /proc/PID/root ("other: mounted" or "other: ERROR").
// Then it creates DONE.
func mountBeside(args []string) int {
	if len(args) != 2 {
		return fail(fmt.Errorf("mount-beside PIDFILE DONE"))
	}
	fmt.Println("own: " + mountMarked("/mnt-own"))
	var pid int
	for deadline := time.Now().Add(time.Minute); pid == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("no pid in %s", args[0]))
		}
		b, _ := os.ReadFile(args[0])
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	fmt.Println("other: " + mountMarked(filepath.Join("/proc", strconv.Itoa(pid), "root/tmp")))
	if err := os.WriteFile(args[1], nil, 0o644); err != nil {
		return fail(err)
	}
	return 0
}

func mountMarked(dir string) string {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err.Error()
	}
	if err := syscall.Mount("none", dir, "tmpfs", 0, ""); err != nil {
		return err.Error()
	}
	if err := os.WriteFile(filepath.Join(dir, "marker"), []byte("mounted beside\n"), 0o644); err != nil {
		return err.Error()
	}
	return "mounted"
}
