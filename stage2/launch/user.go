package launch

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/saturn-pods/saturn/inroot"
)

// LookupUser resolves an appc "user" field against the app's rootfs: a
// number is taken as is, an absolute path means the owner of that file in
// the rootfs, anything else is a name in the rootfs' /etc/passwd.
func LookupUser(root, user string) (uint32, error) {
	return lookupID(root, user, "/etc/passwd", func(st *syscall.Stat_t) uint32 { return st.Uid })
}

// LookupGroup resolves an appc "group" field like LookupUser does, with
// names from the rootfs' /etc/group.
func LookupGroup(root, group string) (uint32, error) {
	return lookupID(root, group, "/etc/group", func(st *syscall.Stat_t) uint32 { return st.Gid })
}

func lookupID(root, v, db string, owner func(*syscall.Stat_t) uint32) (uint32, error) {
	if v == "" {
		return 0, fmt.Errorf("empty user or group")
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return uint32(n), nil
	}
	if filepath.IsAbs(v) {
		p, err := inroot.Resolve(root, v)
		if err != nil {
			return 0, err
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			return 0, fmt.Errorf("%s: %w", v, err)
		}
		return owner(&st), nil
	}
	p, err := inroot.Resolve(root, db)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, fmt.Errorf("%q not found: image has no %s", v, db)
	}
	defer f.Close()
	id, ok, err := FindID(f, v)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", db, err)
	}
	if !ok {
		return 0, fmt.Errorf("%q not found in the image's %s", v, db)
	}
	return id, nil
}

// FindID scans a passwd(5) or group(5) database for name and returns the
// id in its third field.
func FindID(r io.Reader, name string) (uint32, bool, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 || f[0] != name {
			continue
		}
		n, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return 0, false, fmt.Errorf("entry %q: bad id %q", name, f[2])
		}
		return uint32(n), true, nil
	}
	return 0, false, sc.Err()
}
