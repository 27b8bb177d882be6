package stage1abi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/atomicfile"
	"github.com/saturn-pods/saturn/inroot"
)

// MaxValueSize caps what ReadValue reads. The files it reads hold one
// short value each (a pid, an exit status, "ready", a tree id of about
// 140 bytes); one page leaves ample room for them, and bounds what a
// file an app can write makes the host read and keep in memory.
const MaxValueSize = 4096

// ReadValue reads a small file of one value, trimmed of white space.
// Several of these files (the pid files, rkt/status/<app>,
// rkt/supervisor-status) can be written, or replaced, by an app that
// escaped its root into the stage1 rootfs, and are read by the host as
// root: so the file itself must not be a symlink (which could name
// /etc/shadow, or /dev/zero), it is opened without blocking (a FIFO would
// hang status and list), it must be a regular file, and no more than
// MaxValueSize bytes are read; a larger file is refused.
func ReadValue(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ELOOP {
			return "", fmt.Errorf("%s is a symlink, not a regular file", path)
		}
		return "", &os.PathError{Op: "open", Path: path, Err: err}
	}
	return readValue(os.NewFile(uintptr(fd), path))
}

// ReadValueBeneath is ReadValue of rel below dir with no symlink followed
// on the way either (inroot.OpenBeneath): for files below the stage1
// rootfs, whose directories an app could replace with symlinks.
func ReadValueBeneath(dir, rel string) (string, error) {
	f, err := inroot.OpenBeneath(dir, rel, unix.O_RDONLY|unix.O_NONBLOCK)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return "", fmt.Errorf("%s goes through a symlink", filepath.Join(dir, rel))
	}
	if err != nil {
		return "", err
	}
	return readValue(f)
}

// readValue reads and closes f, a regular file of at most MaxValueSize
// bytes holding one value, and trims it of white space.
func readValue(f *os.File) (string, error) {
	defer f.Close()
	path := f.Name()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	}
	b := make([]byte, MaxValueSize+1)
	n, err := io.ReadFull(f, b)
	switch {
	case err == nil:
		return "", fmt.Errorf("%s is larger than %d bytes", path, MaxValueSize)
	case err != io.EOF && err != io.ErrUnexpectedEOF:
		return "", &os.PathError{Op: "read", Path: path, Err: err}
	}
	s := strings.TrimSpace(string(b[:n]))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// writeValue writes a file of one value, as ReadValue reads it.
func writeValue(path, v string) error {
	return atomicfile.Write(path, []byte(v), 0o644)
}

// WritePid records pid, the process enter targets, in the pod directory
// podDir: first its start time (PidStartTimeFile, when known), then the
// pid file, whose appearance says the pod has started.
func WritePid(podDir string, pid int, startTime string) error {
	if startTime != "" {
		if err := writeValue(filepath.Join(podDir, PidStartTimeFile), startTime+"\n"); err != nil {
			return err
		}
	}
	return writeValue(filepath.Join(podDir, PidFile), strconv.Itoa(pid)+"\n")
}

// ReadPid reads the pid file of the pod directory podDir; a missing file
// is an error for which errors.Is(err, os.ErrNotExist) holds.
func ReadPid(podDir string) (int, error) {
	return readPid(filepath.Join(podDir, PidFile))
}

// ReadPpid reads PpidFile, the pid file of older rkt stage1s.
func ReadPpid(podDir string) (int, error) {
	return readPid(filepath.Join(podDir, PpidFile))
}

func readPid(path string) (int, error) {
	s, err := ReadValue(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad pid file %s: %q", path, clip(s))
	}
	return pid, nil
}

// ReadPidStartTime reads PidStartTimeFile of the pod directory podDir.
func ReadPidStartTime(podDir string) (string, error) {
	return ReadValue(filepath.Join(podDir, PidStartTimeFile))
}

// WriteAppStatus records that app exited with code (128+signal for a
// signal) below stage1's rootfs root.
func WriteAppStatus(root, app string, code int) error {
	return writeValue(filepath.Join(root, StatusFile(app)), strconv.Itoa(code))
}

// ReadAppStatus reads app's exit status below stage1's rootfs root, with
// no symlink followed (ReadValueBeneath).
func ReadAppStatus(root, app string) (int, error) {
	s, err := ReadValueBeneath(root, StatusFile(app))
	if err != nil {
		return 0, err
	}
	code, err := strconv.Atoi(s)
	if err != nil || code < 0 || code > 255 {
		return 0, fmt.Errorf("bad exit status of app %s: %q", app, clip(s))
	}
	return code, nil
}

// SupervisorReady is SupervisorStatus's content once every app started.
const SupervisorReady = "ready"

// WriteSupervisorReady says, below stage1's rootfs root, that every app
// started.
func WriteSupervisorReady(root string) error {
	return writeValue(filepath.Join(root, SupervisorStatus), SupervisorReady)
}

// WriteEnv records app's environment, KEY=VALUE lines, below stage1's
// rootfs root, for enter to give the commands it runs.
func WriteEnv(root, app string, env []string) error {
	var b strings.Builder
	for _, kv := range env {
		b.WriteString(kv + "\n")
	}
	return atomicfile.Write(filepath.Join(root, EnvFile(app)), []byte(b.String()), 0o644)
}

// ReadEnv reads what WriteEnv wrote; a missing file is an error for
// which errors.Is(err, os.ErrNotExist) holds (the app has not started).
func ReadEnv(root, app string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(root, EnvFile(app)))
	if err != nil {
		return nil, err
	}
	var env []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			env = append(env, l)
		}
	}
	return env, nil
}

// NetInfo is one network the pod joined, as rkt's net-info.json has it.
type NetInfo struct {
	NetName string `json:"netName"`
	IfName  string `json:"ifName"`
	IP      string `json:"ip"`
	Mask    string `json:"mask,omitempty"`
	HostIP  string `json:"hostIP,omitempty"`
}

// WriteNetInfo records the pod's networks in the pod directory podDir.
func WriteNetInfo(podDir string, nets []NetInfo) error {
	b, err := json.Marshal(nets)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(podDir, NetInfoFile), b, 0o644)
}

// ReadNetInfo reads the pod's networks; none when the stage1 wrote no
// NetInfoFile (host or no networking).
func ReadNetInfo(podDir string) ([]NetInfo, error) {
	b, err := os.ReadFile(filepath.Join(podDir, NetInfoFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var nets []NetInfo
	if err := json.Unmarshal(b, &nets); err != nil {
		return nil, fmt.Errorf("%s: %w", NetInfoFile, err)
	}
	return nets, nil
}

// clip shortens a value read from a file a pod can write before an error
// message shows it, so that a file pointed elsewhere shows little of it.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
