package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// capsEscape tries the first steps of the escapes CAP_SYS_ADMIN opens to
// an app, and prints how far each got, one "step: result" line each:
//
//	cgroup: mount a cgroup v1 hierarchy of the host and open its
//	        release_agent for writing (the kernel runs that program as
//	        host root when a cgroup of the hierarchy empties);
//	proc:   mount a fresh proc and open its kernel/core_pattern for
//	        writing (a "|program" there runs as host root on a crash).
//
// Neither file is ever written: opening one for writing proves the
// capability, and the host's knobs stay untouched.
func capsEscape(args []string) int {
	if len(args) != 1 || (args[0] != "cgroup" && args[0] != "proc") {
		return fail(fmt.Errorf("caps-escape cgroup|proc"))
	}
	dir, err := os.MkdirTemp("/", ".caps-escape-")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(dir)
	if args[0] == "cgroup" {
		opts := cgroupV1Controllers()
		if err := syscall.Mount("cgroup", dir, "cgroup", 0, opts); err != nil {
			fmt.Printf("cgroup-mount: %v\n", err)
			return 0
		}
		defer syscall.Unmount(dir, syscall.MNT_DETACH)
		fmt.Printf("cgroup-mount: ok (%s)\n", opts)
		fmt.Printf("release_agent: %s\n", openForWrite(dir+"/release_agent"))
		return 0
	}
	if err := syscall.Mount("proc", dir, "proc", 0, ""); err != nil {
		fmt.Printf("proc-mount: %v\n", err)
		return 0
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	fmt.Println("proc-mount: ok")
	fmt.Printf("core_pattern: %s\n", openForWrite(dir+"/sys/kernel/core_pattern"))
	return 0
}

// cgroupV1Controllers names an existing v1 hierarchy of this process
// ("cpu,cpuacct"), so that the mount shows it rather than making a new
// one; name=systemd when no controller hierarchy is listed.
func cgroupV1Controllers() string {
	f, err := os.Open("/proc/self/cgroup")
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			parts := strings.SplitN(sc.Text(), ":", 3)
			if len(parts) == 3 && parts[1] != "" && !strings.HasPrefix(parts[1], "name=") {
				return parts[1]
			}
		}
	}
	return "none,name=systemd"
}

// openForWrite opens path for writing and closes it unwritten.
func openForWrite(path string) string {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err.Error()
	}
	syscall.Close(fd)
	return "writable"
}
