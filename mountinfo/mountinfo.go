// Package mountinfo reads the mount table of the calling process's mount
// namespace. pod gc, stage1 gc and the tests all need "what is mounted
// below this directory, in an order that can be unmounted", and they must
// agree on it, so it is read in one place.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Points returns every mount point of the calling process's mount
// namespace in mountinfo order: a mount comes after the mounts it is
// stacked on or nested in.
func Points() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	mps, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mps, nil
}

// Under returns the mount points at or below dir, deepest first, and of
// mounts stacked on one point the most recent first, so unmounting them in
// this order always takes off the top one.
func Under(dir string) ([]string, error) {
	all, err := Points()
	if err != nil {
		return nil, err
	}
	return below(all, filepath.Clean(dir)), nil
}

func below(all []string, dir string) []string {
	var mps []string
	for i := len(all) - 1; i >= 0; i-- {
		if mp := all[i]; mp == dir || strings.HasPrefix(mp, dir+"/") || dir == "/" {
			mps = append(mps, mp)
		}
	}
	sort.SliceStable(mps, func(i, j int) bool {
		return strings.Count(mps[i], "/") > strings.Count(mps[j], "/")
	})
	return mps
}

// parse reads the mount points (field 5) of a mountinfo table.
func parse(r io.Reader) ([]string, error) {
	ms, err := parseMounts(r)
	mps := make([]string, len(ms))
	for i, m := range ms {
		mps[i] = m.Point
	}
	return mps, err
}

// Mount is one line of the mount table.
type Mount struct {
	// Root is the directory of the filesystem mounted at Point (field 4):
	// "/" unless a subtree was bind-mounted.
	Root  string
	Point string
	// FSType, Source and SuperOptions come after the separator: the
	// filesystem type, its source and the options of the filesystem
	// itself (for cgroup v1, the controllers of the hierarchy).
	FSType       string
	Source       string
	SuperOptions string
}

// Mounts returns every mount of the calling process's mount namespace in
// mountinfo order.
func Mounts() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	ms, err := parseMounts(f)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return ms, nil
}

// parseMounts reads a mountinfo table. Lines too short to hold a mount
// point are skipped; the fields after the "-" separator are left empty
// where a line lacks them.
func parseMounts(r io.Reader) ([]Mount, error) {
	var ms []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := Mount{Root: unescape(fields[3]), Point: unescape(fields[4])}
		// Optional fields (field 7 on) end at a lone "-".
		if i := slices.Index(fields[5:], "-"); i >= 0 {
			rest := fields[5+i+1:]
			if len(rest) > 0 {
				m.FSType = rest[0]
			}
			if len(rest) > 1 {
				m.Source = unescape(rest[1])
			}
			if len(rest) > 2 {
				m.SuperOptions = rest[2]
			}
		}
		ms = append(ms, m)
	}
	return ms, sc.Err()
}

// unescape undoes the octal escapes (\040 for a space, \012 for a newline,
// \134 for a backslash) the kernel writes in mountinfo paths.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
