package launch

import (
	"errors"
	"fmt"

	"github.com/saturn-pods/saturn/seccomp"
)

// seccompFilter returns the filter of an app with isolators and the
// bounding set caps (nil: all): its seccomp isolator's, saturn's default
// filter with what caps gate when it has none, nil when the isolator
// opts out (a retain set with @appc.io/all).
func seccompFilter(isolators []Isolator, caps []Cap) (*seccomp.Filter, error) {
	var found *Isolator
	for i := range isolators {
		if _, ok := seccomp.ModeOf(isolators[i].Name); !ok {
			continue
		}
		if found != nil {
			// appc: one seccomp isolator per app, and a retain set
			// excludes a remove set.
			return nil, fmt.Errorf("isolators %s and %s: an app takes one seccomp isolator", found.Name, isolators[i].Name)
		}
		found = &isolators[i]
	}
	if !seccomp.Supported() {
		if found == nil {
			return nil, errors.New("no seccomp filter can be built on this architecture (--insecure-options=seccomp runs without one)")
		}
		return nil, fmt.Errorf("isolator %s: seccomp filters are not supported on this architecture", found.Name)
	}
	if found == nil {
		if caps == nil {
			return seccomp.DefaultWithCaps(nil), nil
		}
		nums := make([]int, len(caps))
		for i, c := range caps {
			nums[i] = int(c)
		}
		return seccomp.DefaultWithCaps(nums), nil
	}
	mode, _ := seccomp.ModeOf(found.Name)
	f, err := seccomp.New(mode, found.Syscalls, found.Errno)
	if err != nil {
		return nil, fmt.Errorf("isolator %s: %w", found.Name, err)
	}
	return f, nil
}

// forkPath names the system calls made on a thread from the moment an
// app's filter is installed on it until the app runs: Go's ForkExec on
// the thread Start forks from (parent and child side, syscall/exec_linux.go)
// and the Go runtime on that thread until it ends, or the helper (Exec)
// from its credential switch to its exec. A filter that allows all of
// them is installed before the fork or the credential switch, while the
// installer still holds CAP_SYS_ADMIN; one that refuses any of them
// would break the runtime or the start-up on the way, so Start leaves it
// to the helper, which installs it with one raw system call right before
// its raw execve (see Exec).
var forkPath = []string{
	// ForkExec in the parent.
	"pipe2", "clone", "read", "write", "close", "wait4",
	// ForkExec in the child, until exec.
	"dup3", "fcntl", "chroot", "chdir", "setgroups", "setgid", "setuid",
	"setsid", "setpgid", "ioctl", "prctl", "capget", "capset", "prlimit64",
	"getpid", "execve", "exit", "exit_group",
	// The helper's credential switch.
	"setresgid", "setresuid",
	// The Go runtime, on the thread until it ends.
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "futex",
	"mmap", "munmap", "madvise", "mprotect", "sched_yield", "nanosleep",
	"gettid", "tgkill", "clock_gettime", "epoll_pwait",
}

// seccompEarly reports whether the filter of s (if any) can be installed
// before the fork or the credential switch (see forkPath).
func (s *Spec) seccompEarly() bool {
	return s.Seccomp == nil || s.Seccomp.AllowsNames(s.forkNeeds())
}

// installSeccomp installs f, if any, on the calling thread, which holds
// CAP_SYS_ADMIN: from here to the app's exec, only the calls of forkPath
// are made on it (Start's thread ends after the fork, see Start).
func installSeccomp(f *seccomp.Filter) error {
	if f == nil {
		return nil
	}
	p, err := seccomp.Compile(f)
	if err != nil {
		return err
	}
	return p.Install()
}
