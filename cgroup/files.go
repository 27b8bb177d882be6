package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Control files are read and written with raw system calls: an os.File
// would register each with the poller, and the run entrypoint writes a
// few dozen of them on every pod start.

// writeAt writes val to the control file name, relative to the directory
// fd dirfd (unix.AT_FDCWD for a path). The kernel takes a control file's
// value in one write; its error (EINVAL for a value out of range, EBUSY
// for a limit below what is in use…) is returned with file and value.
func writeAt(dirfd int, name, val string) error {
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cgroup: open %s: %w", name, err)
	}
	_, err = unix.Write(fd, []byte(val))
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("cgroup: write %q to %s: %w", strings.TrimSpace(val), name, err)
	}
	return nil
}

// writeFile writes val to the control file at path.
func writeFile(path, val string) error { return writeAt(unix.AT_FDCWD, path, val) }

// readAt reads a control file, relative to dirfd as writeAt. Control
// files are small; 64 KiB holds any this package reads.
func readAt(dirfd int, name string) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup: open %s: %w", name, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 64*1024)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cgroup: read %s: %w", name, err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

func readFile(path string) ([]byte, error) { return readAt(unix.AT_FDCWD, path) }

// readUintAt reads a control file holding one unsigned number.
func readUintAt(dirfd int, name string) (uint64, error) {
	b, err := readAt(dirfd, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cgroup: %s: %w", name, err)
	}
	return v, nil
}

// keyedAt reads one value of a flat-keyed control file ("key value"
// lines: memory.events, cpu.stat, memory.oom_control); a key the file
// lacks reads as 0, as on kernels that do not count it yet.
func keyedAt(dirfd int, name, key string) (uint64, error) {
	b, err := readAt(dirfd, name)
	if err != nil {
		return 0, err
	}
	return keyed(b, key)
}

func keyed(b []byte, key string) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cgroup: %s: %w", key, err)
			}
			return n, nil
		}
	}
	return 0, sc.Err()
}

// pidsIn reads the pids in a cgroup.procs file.
func pidsIn(path string) ([]int, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// exists reports whether a control file or cgroup directory is there.
func exists(path string) bool {
	return unix.Access(path, unix.F_OK) == nil
}

// mkdir makes one cgroup directory; an existing one is fine.
func mkdir(path string) (made bool, err error) {
	err = unix.Mkdir(path, 0o755)
	if err == unix.EEXIST {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cgroup: mkdir %s: %w", path, err)
	}
	return true, nil
}

// gone tells an error from a cgroup that no longer exists: under systemd
// the pod's scope is removed by systemd as soon as no process is left in
// it, which may be while saturn removes it too (ENODEV: the cgroup of an
// open file was removed).
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV)
}

// removeTree removes the cgroup directory dir and every cgroup below it,
// deepest first. A cgroup whose last processes are still exiting refuses
// rmdir with EBUSY for a moment, so that is retried until the deadline.
func removeTree(dir string, deadline time.Time) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name()), deadline); err != nil {
				return err
			}
		}
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := unix.Rmdir(dir)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY || time.Now().After(deadline) {
			return fmt.Errorf("cgroup: remove %s: %w", dir, err)
		}
		time.Sleep(wait)
	}
}
