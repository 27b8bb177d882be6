package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/activation"
	"github.com/saturn-pods/saturn/seccomp"
)

// Rlimit is one resource limit applied before exec.
type Rlimit struct {
	Resource int    `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

// Spec is everything the helper needs to start one process of an app.
// It is passed from the supervisor to the helper as JSON in a memfd.
type Spec struct {
	// Root is the directory the process is chrooted into; empty keeps
	// the current root. It is empty with MountNS, whose root is the app's.
	Root string `json:"root,omitempty"`
	// MountNS, when above 2, is an fd of the mount namespace the process
	// joins (see NewMountNS): its root becomes the namespace's, the
	// app's rootfs. In the helper's spec it is the number of an fd the
	// helper inherits.
	MountNS int `json:"mountNS,omitempty"`
	// NewSessionKeyring gives the process a new anonymous session
	// keyring instead of the caller's (see joinSessionKeyring).
	NewSessionKeyring bool `json:"newSessionKeyring,omitempty"`
	// Dir is the working directory inside Root; empty means "/".
	Dir  string   `json:"dir,omitempty"`
	Args []string `json:"args"`
	Env  []string `json:"env"`
	UID  uint32   `json:"uid"`
	GID  uint32   `json:"gid"`
	// Groups are the supplementary group ids; nil clears them.
	Groups []uint32 `json:"groups,omitempty"`
	// Bounding lists the capabilities kept in the bounding set; nil keeps
	// all of them (--disable-capabilities-restriction).
	Bounding []Cap `json:"bounding,omitempty"`
	// Ambient capabilities survive the switch to a non-root UID; each
	// must also be in Bounding (when Bounding is set).
	Ambient    []Cap    `json:"ambient,omitempty"`
	NoNewPrivs bool     `json:"noNewPrivs,omitempty"`
	Rlimits    []Rlimit `json:"rlimits,omitempty"`
	// OOMScoreAdj, when set, is written to /proc/self/oom_score_adj.
	OOMScoreAdj *int `json:"oomScoreAdj,omitempty"`
	// Listen are the caller's descriptors of the sockets the process
	// gets for socket activation (package activation), as its fds 3
	// onwards: the caller passes them right after stdio. Such a process
	// is started through the helper, where they are only counted, in
	// ListenFDs.
	Listen []int `json:"-"`
	// ListenFDs is how many of those sockets the helper's process has:
	// it is told so in LISTEN_FDS, with its own pid in LISTEN_PID, which
	// only the process that becomes the app knows, just before exec.
	ListenFDs int `json:"listenFDs,omitempty"`
	// Ctty makes the terminal on the process's fd 0 its controlling
	// terminal, in the new session it must then lead. It is applied
	// when the process (or the helper that becomes it) is forked, so it
	// does not travel to the helper.
	Ctty bool `json:"-"`
	// Seccomp is the app's seccomp filter; nil installs none.
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
	// Cgroup, when set, is the cgroup the process starts in, in a cgroup
	// namespace of its own (see placeInCgroup). The helper does not get
	// it: it is started in the cgroup already.
	Cgroup CgroupTarget `json:"-"`
}

// Memfd returns a close-on-exec memfd holding s for the helper,
// positioned at its start. The caller passes it as one of the helper's
// files and that file's number as the helper's argument (see Main), and
// closes its own copy. The spec, environment included, travels in an
// fd rather than in the helper's arguments, which every process of the
// pod can read in /proc/<pid>/cmdline until the helper execs the app.
func (s *Spec) Memfd() (int, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return -1, fmt.Errorf("encode stage2 spec: %w", err)
	}
	return Memfd("saturn-stage2-spec", b)
}

// Main is the body of the stage2 helper: args is the helper's argument
// list after its name, holding the number of the inherited fd to read
// the encoded Spec from (see Spec.Memfd; any readable fd, a pipe too).
// The fd is closed before the app starts. Main returns only on failure,
// with the exit code the helper should exit with.
func Main(args []string) int {
	s, err := readSpec(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "stage2: %v\n", err)
		return 254
	}
	err = Exec(s)
	fmt.Fprintf(os.Stderr, "stage2: %v\n", err)
	return 254
}

func readSpec(args []string) (*Spec, error) {
	if len(args) != 1 {
		return nil, errors.New("expected one argument: the fd of the spec")
	}
	fd, err := strconv.Atoi(args[0])
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("bad spec fd %q", args[0])
	}
	// The app must not inherit it.
	defer unix.Close(fd)
	b, err := ReadFD(fd)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	s := &Spec{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("decode spec: %w", err)
	}
	return s, nil
}

// Exec applies s to the calling process and execs the app. It must run
// in a process that does nothing else: it changes the root, credentials
// and capabilities of the whole process. It returns only on failure.
func Exec(s *Spec) error {
	if len(s.Args) == 0 {
		return errors.New("no command to run")
	}
	// Capability sets, keyrings, keepcaps and the mount namespace are per
	// thread, and execve keeps the calling thread's: everything from here
	// to exec stays on one thread (see prepareThread).
	runtime.LockOSThread()
	// The app's rootfs need not have /proc: read what the kernel knows
	// before chroot or joining the app's mount namespace.
	last, err := lastCap()
	if err != nil {
		return err
	}
	var filter *seccomp.Prog
	if s.Seccomp != nil {
		if filter, err = seccomp.Compile(s.Seccomp); err != nil {
			return err
		}
	}
	if s.OOMScoreAdj != nil {
		v := strconv.Itoa(*s.OOMScoreAdj)
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(v), 0); err != nil {
			return fmt.Errorf("oom_score_adj %s: %w", v, err)
		}
	}
	if err := prepareThread(s, last); err != nil {
		return err
	}
	if s.MountNS > 0 {
		// The app must not inherit it.
		unix.Close(s.MountNS)
	}
	if s.Root != "" {
		if err := unix.Chroot(s.Root); err != nil {
			return fmt.Errorf("chroot %s: %w", s.Root, err)
		}
	}
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("working directory %s: %w", dir, err)
	}
	prog, err := lookPath(s.Args[0], s.Env)
	if err != nil {
		return err
	}
	for _, r := range s.Rlimits {
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := unix.Setrlimit(r.Resource, &lim); err != nil {
			return fmt.Errorf("setrlimit %d: %w", r.Resource, err)
		}
	}
	early := s.seccompEarly()
	if filter != nil && early {
		// Still root: installing needs no no_new_privs.
		if err := filter.Install(); err != nil {
			return err
		}
	}
	if err := setCredentials(s); err != nil {
		return err
	}
	env := s.Env
	if s.ListenFDs > 0 {
		// The pid as the app sees it, in the pod's PID namespace: exec
		// keeps it.
		env = append(slices.Clip(env), activation.EnvPID+"="+strconv.Itoa(os.Getpid()), activation.EnvFDs+"="+strconv.Itoa(s.ListenFDs))
	}
	if filter != nil && !early {
		if s.UID != 0 && !s.NoNewPrivs {
			// The filter refuses what the credential switch needs,
			// so it comes after it, and a process that is no longer
			// root can install a filter only under no_new_privs.
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				return fmt.Errorf("set no_new_privs: %w", err)
			}
		}
		return execFiltered(filter, prog, s.Args, env)
	}
	if err := unix.Exec(prog, s.Args, env); err != nil {
		return fmt.Errorf("exec %s: %w", s.Args[0], err)
	}
	return nil
}

// execFiltered installs filter and execs prog with two raw system calls
// and nothing in between, not even the Go runtime (which the filter may
// refuse what it needs): everything the exec needs is made beforehand.
// syscall.Exec would allocate, and restore the RLIMIT_NOFILE soft limit
// that Go raises at start-up, after the filter; here the app keeps Go's
// raised soft limit unless its spec sets one.
func execFiltered(filter *seccomp.Prog, prog string, args, env []string) error {
	argv0, err := unix.BytePtrFromString(prog)
	if err != nil {
		return err
	}
	argv, err := cStrings(args)
	if err != nil {
		return err
	}
	envv, err := cStrings(env)
	if err != nil {
		return err
	}
	if err := filter.Install(); err != nil {
		return err
	}
	_, _, errno := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(argv0)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
	runtime.KeepAlive(argv0)
	runtime.KeepAlive(argv)
	runtime.KeepAlive(envv)
	return fmt.Errorf("exec %s: %w", args[0], errno)
}

// setCredentials switches groups and user, and raises the ambient set so
// a non-root app keeps the capabilities it was granted. The bounding set
// is already dropped (prepareThread), while the thread was still root.
func setCredentials(s *Spec) error {
	if len(s.Ambient) > 0 {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("keep capabilities: %w", err)
		}
	}
	groups := make([]int, len(s.Groups))
	for i, g := range s.Groups {
		groups[i] = int(g)
	}
	// Only this (locked) thread changes identity: execve keeps its
	// credentials and ends every other thread, which run nothing but the
	// Go runtime meanwhile. syscall's all-threads variants would stop
	// every thread with a signal three times over, a cost paid per app.
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", s.Groups, err)
	}
	if err := setresgid(s.GID); err != nil {
		return fmt.Errorf("setgid %d: %w", s.GID, err)
	}
	if err := setresuid(s.UID); err != nil {
		return fmt.Errorf("setuid %d: %w", s.UID, err)
	}
	if len(s.Ambient) > 0 {
		return raiseAmbient(s.Ambient)
	}
	return nil
}

// lookPath finds a command without a slash in the PATH of the app's
// environment, after chroot, so the app's own tree is searched.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	p := SearchPath(env)
	for _, d := range strings.Split(p, ":") {
		if d == "" {
			continue
		}
		full := path.Join(d, name)
		if st, err := os.Stat(full); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return full, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH %s", name, p)
}

// cStrings is ss as execve takes it: NUL-terminated strings, the list
// ended by a nil pointer.
func cStrings(ss []string) ([]*byte, error) {
	out := make([]*byte, len(ss)+1)
	for i, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}
