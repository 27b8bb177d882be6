package launch

import (
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/saturn-pods/saturn/inroot"
)

// Direct reports whether Start can apply everything s asks for. Resource
// limits and oom_score_adj belong to the whole process and must be set
// between fork and exec, which Go's fork cannot do; a seccomp filter
// that refuses what Go's fork needs cannot be installed before it (see
// forkPath); a socket-activated app's LISTEN_PID is its own pid, known
// only after the fork. Such a spec needs the helper (Main) exec'ed in
// between.
func (s *Spec) Direct() bool {
	return len(s.Rlimits) == 0 && s.OOMScoreAdj == nil && s.seccompEarly() && len(s.Listen) == 0 && s.ListenFDs == 0
}

// Start starts the process s describes as a child of the caller, without
// a helper process in between, and returns its pid. files become the
// child's descriptors 0, 1, 2…; with setsid the child leads a new
// session. The caller reaps the child. s must be Direct.
//
// What belongs to a thread (the mount namespace, the session keyring,
// the bounding set, no_new_privs: see prepareThread; then the seccomp
// filter, right before the fork) is applied to a
// thread that does nothing but fork the process, which inherits it; Go's
// fork (ForkExec) then applies chroot (without MountNS), credentials,
// ambient capabilities and the working directory in the child. The
// thread's goroutine exits without unlocking it, so the Go runtime ends
// the thread instead of letting other goroutines run on it. The main
// thread cannot end, so the caller's main goroutine must hold it
// (runtime.LockOSThread in an init function): otherwise a spoiled main
// thread would be parked for good, idle but showing the app's settings
// in /proc/<pid>/status.
func Start(s *Spec, files []uintptr, setsid bool) (int, error) {
	if len(s.Args) == 0 {
		return 0, fmt.Errorf("start: no command to run")
	}
	if !s.Direct() {
		return 0, fmt.Errorf("start %s: resource limits, oom_score_adj, sockets and this seccomp filter need the stage2 helper", s.Args[0])
	}
	return onThrowawayThread(func() (int, error) { return forkApp(s, files, setsid, 0) })
}

// StartHere is Start on the calling thread, which must be locked to its
// goroutine: it keeps what belongs to a thread (the bounding set,
// no_new_privs, a session keyring, the mount namespace) as the process
// got it, for the rest of its life. It is for a caller that does nothing
// afterwards but wait for the child and signal it (stage1-fly), and whose
// child must die with it: the kernel sends the child pdeathsig when this
// thread ends, which a throwaway thread does at once. The child does not
// lead a session of its own.
func StartHere(s *Spec, files []uintptr, pdeathsig syscall.Signal) (int, error) {
	if len(s.Args) == 0 {
		return 0, fmt.Errorf("start: no command to run")
	}
	if !s.Direct() {
		return 0, fmt.Errorf("start %s: resource limits, oom_score_adj, sockets and this seccomp filter need the stage2 helper", s.Args[0])
	}
	return forkApp(s, files, false, pdeathsig)
}

// forkApp runs on a locked thread it may spoil (see Start).
func forkApp(s *Spec, files []uintptr, setsid bool, pdeathsig syscall.Signal) (int, error) {
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	var last Cap
	if s.Bounding != nil {
		// Read in the caller's namespace: the app's may lack /proc.
		var err error
		if last, err = lastCap(); err != nil {
			return 0, err
		}
	}
	if err := prepareThread(s, last); err != nil {
		return 0, err
	}
	// In the app's mount namespace the command is looked up as the app
	// sees it, its mounts included.
	prog, err := lookPathIn(s.Root, dir, s.Args[0], s.Env)
	if err != nil {
		return 0, err
	}
	sys := &syscall.SysProcAttr{
		Chroot:     s.Root,
		Setsid:     setsid,
		Setctty:    setsid && s.Ctty,
		Credential: &syscall.Credential{Uid: s.UID, Gid: s.GID, Groups: s.Groups},
		Pdeathsig:  pdeathsig,
	}
	for _, c := range s.Ambient {
		sys.AmbientCaps = append(sys.AmbientCaps, uintptr(c))
	}
	// Before the filter: placing the thread writes cgroup files and may
	// unshare a cgroup namespace.
	if err := placeInCgroup(s, sys); err != nil {
		return 0, err
	}
	// The filter comes last: it may refuse what the steps before it
	// make (unshare, setns, keyctl, openat2...). From here to the app's
	// exec only the calls of forkPath (and a fork into a cgroup's,
	// forkNeeds) are made on this thread and in the child; a step added
	// to the child (a SysProcAttr field) must be one of them, or the spec
	// must go to the helper.
	if err := installSeccomp(s.Seccomp); err != nil {
		return 0, err
	}
	pid, err := syscall.ForkExec(prog, s.Args, &syscall.ProcAttr{Dir: dir, Env: s.Env, Files: files, Sys: sys})
	if err != nil {
		return 0, fmt.Errorf("start %s (working directory %s): %w", s.Args[0], dir, err)
	}
	return pid, nil
}

// lookPathIn is lookPath as seen from inside root, before chroot: a name
// without a slash is searched in the PATH of env (relative entries from
// the working directory dir), symlinks resolved with root as "/". It
// returns the path to exec after chroot.
func lookPathIn(root, dir, name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	p := SearchPath(env)
	for _, d := range strings.Split(p, ":") {
		if d == "" {
			continue
		}
		inRoot := path.Join(d, name)
		host := path.Join(dir, inRoot)
		if path.IsAbs(inRoot) {
			host = inRoot
		}
		if root != "" {
			var err error
			if host, err = inroot.Resolve(root, host); err != nil {
				continue
			}
		}
		if st, err := os.Stat(host); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return inRoot, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH %s", name, p)
}
