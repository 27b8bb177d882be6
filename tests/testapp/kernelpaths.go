package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// kernelPaths acts as an app root probing the host's kernel through /proc
// and /sys, harmlessly, and prints one line per attempt:
//
//	write /proc/sysrq-trigger: OK|ERRNO    ('h' only logs sysrq's help)
//	write /proc/sys/kernel/core_pattern: OK|ERRNO   (its own value again)
//	read /proc/kallsyms: N bytes|ERRNO
//	ls /sys/firmware: NAME,NAME...|ERRNO
func kernelPaths() int {
	fmt.Printf("write /proc/sysrq-trigger: %s\n", errName(writeFile("/proc/sysrq-trigger", []byte("h"))))
	for _, p := range []string{"/proc/sys/kernel/core_pattern", "/proc/sys/vm/panic_on_oom"} {
		b, err := os.ReadFile(p)
		if err == nil {
			err = writeFile(p, b)
		}
		fmt.Printf("write %s: %s\n", p, errName(err))
	}
	for _, p := range []string{"/proc/kallsyms", "/proc/kcore", "/proc/timer_list", "/proc/keys", "/proc/config.gz"} {
		if b, err := os.ReadFile(p); err != nil {
			fmt.Printf("read %s: %s\n", p, errName(err))
		} else {
			fmt.Printf("read %s: %d bytes\n", p, len(b))
		}
	}
	for _, d := range []string{"/sys/firmware", "/sys/fs", "/sys/module", "/sys/power"} {
		ents, err := os.ReadDir(d)
		if err != nil {
			fmt.Printf("ls %s: %s\n", d, errName(err))
			continue
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		fmt.Printf("ls %s: %s\n", d, strings.Join(names, ","))
	}
	return 0
}

// writeFile writes b to the existing file p, as one write.
func writeFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// errName is "OK" for nil and the symbolic name of err's errno
// otherwise ("EROFS").
func errName(err error) string {
	if err == nil {
		return "OK"
	}
	var e unix.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return err.Error()
}
