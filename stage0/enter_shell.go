package main

import (
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/inroot"
)

// enterShells are what enter runs when given no command: the first the
// app's image has, as rkt ran /bin/bash (which busybox or distroless
// images lack).
var enterShells = []string{"/bin/bash", "/bin/sh"}

// defaultEnterShell returns the first of enterShells that is an
// executable file in app's rootfs, resolved as the app sees it (never
// out of its root); the last one when none is.
func defaultEnterShell(podDir, app string) string {
	root, err := inroot.OpenRoot(filepath.Join(podDir, "stage1", "rootfs", "opt", "stage2", app, "rootfs"))
	if err != nil {
		return enterShells[len(enterShells)-1]
	}
	defer root.Close()
	for _, sh := range enterShells {
		f, err := inroot.Open(root, sh, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		err = unix.Fstat(int(f.Fd()), &st)
		f.Close()
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0 {
			return sh
		}
	}
	return enterShells[len(enterShells)-1]
}
