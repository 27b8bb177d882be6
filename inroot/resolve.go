package inroot

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// maxSymlinks bounds symlink chains the way the kernel does.
const maxSymlinks = 40

// Resolve returns the host path of p as seen by a process chrooted into
// root: symlinks are followed with root as "/", and ".." never climbs out
// of root. Missing components count as directories to be made, so the
// result is usable for creating a path too, and is always inside root.
func Resolve(root, p string) (string, error) {
	rest := strings.Split(filepath.Clean("/"+p), "/")
	cur := "/"
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		st, err := os.Lstat(filepath.Join(root, next))
		if os.IsNotExist(err) {
			// A missing component is taken as a directory to be made. The
			// rest is still walked one component at a time: joining it
			// as it is would let a ".." from a symlink target climb out
			// of root (nope/../../../etc/x).
			cur = next
			continue
		}
		if err != nil {
			return "", err
		}
		if st.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(root, cur), nil
}
