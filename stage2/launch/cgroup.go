package launch

import (
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// CgroupTarget is a cgroup a process starts in (cgroup.Target): Prepare
// makes the next child the calling thread forks with sys start there,
// by moving the thread itself (cgroup v1) and by clone3 into the cgroup
// (v2, sys.UseCgroupFD), which ClonesInto reports.
type CgroupTarget interface {
	Prepare(sys *syscall.SysProcAttr) error
	ClonesInto() bool
}

// placeInCgroup makes the process forked with sys from this thread
// (locked, never unlocked) start in s.Cgroup, in a cgroup namespace of
// its own rooted there: the process sees its cgroup as "/" and no path of
// the host's hierarchy. With clone3 the namespace is a flag of the fork
// (the kernel roots it at the cgroup the child starts in); with v1 alone
// this thread, moved into the cgroup, unshares one that the child then
// inherits, so the fork is a plain clone that an app's seccomp filter
// installed on the thread lets through. Nothing happens without
// s.Cgroup.
func placeInCgroup(s *Spec, sys *syscall.SysProcAttr) error {
	if s.Cgroup == nil {
		return nil
	}
	if err := s.Cgroup.Prepare(sys); err != nil {
		return fmt.Errorf("start %s in its cgroup: %w", s.Args[0], err)
	}
	if s.Cgroup.ClonesInto() {
		sys.Cloneflags |= unix.CLONE_NEWCGROUP
		return nil
	}
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("start %s in a cgroup namespace: %w", s.Args[0], err)
	}
	return nil
}

// forkNeeds are the system calls a fork into s's cgroup adds to forkPath:
// clone3, which a seccomp filter refusing namespaces answers with ENOSYS.
func (s *Spec) forkNeeds() []string {
	if s.Cgroup != nil && s.Cgroup.ClonesInto() {
		return append(append([]string(nil), forkPath...), "clone3")
	}
	return forkPath
}

// ForkInCgroup calls fork with sys set up to start the child in s's
// cgroup (see placeInCgroup), on a goroutine locked to a thread of its
// own that is never unlocked, since placing the child may move the
// thread into the cgroup: the Go runtime then ends that thread. It is
// for forks other than Start's, the stage2 helper's.
func ForkInCgroup(s *Spec, sys *syscall.SysProcAttr, fork func() (int, error)) (int, error) {
	if s.Cgroup == nil {
		return fork()
	}
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread may be left in the app's cgroup.
		runtime.LockOSThread()
		if err := placeInCgroup(s, sys); err != nil {
			done <- result{0, err}
			return
		}
		pid, err := fork()
		done <- result{pid, err}
	}()
	r := <-done
	return r.pid, r.err
}
