package seccomp

import (
	"fmt"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Return values of a seccomp program (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retErrno       = 0x00050000
	retAllow       = 0x7fff0000
)

// Offsets in struct seccomp_data: nr and arch are 32 bits; the low half
// of the first argument, on the little-endian hosts saturn supports,
// comes first in its 64 bits.
const (
	offNr       = 0
	offArch     = 4
	offArg0Low  = 16
	maxBPFInsns = 4096
)

// namespaceFlags are the CLONE_NEW* flags clone(2) takes in its first
// argument (CLONE_NEWTIME cannot be given to clone: its bit is part of
// the exit signal).
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// action is what the program decides for one system call number.
type action uint8

const (
	actAllow action = iota
	actDeny
	// actENOSYS answers clone3 when the filter cannot look at its
	// flags, which sit behind a pointer: libcs then fall back to clone.
	actENOSYS
	// actClone allows clone unless its flags ask for a namespace.
	actClone
)

// span is a run of system call numbers from start on with one action.
type span struct {
	start uint32
	act   action
}

// Program assembles f for the host architecture. Besides f's list:
//
//   - a system call of another architecture (a 32-bit int 0x80 call from
//     an x86_64 process) or of the x32 ABI is refused, since its numbers
//     are not the ones the list was resolved to;
//   - when f refuses unshare, clone with a CLONE_NEW* flag is refused
//     too, and clone3 fails with ENOSYS: making a namespace is one
//     privilege whichever call asks for it (setns is listed on its own);
//   - clone3 not allowed by a retain set fails with ENOSYS rather than
//     with f's errno or SIGSYS, so libcs fall back to clone.
//
// A refused call returns f.Errno, or kills the process when it is 0.
// The program is written straight into one slice (no instruction values
// boxed on the way): the pod's PID 1 assembles one per process it starts.
func Program(f *Filter) ([]unix.SockFilter, error) {
	if !Supported() {
		return nil, fmt.Errorf("seccomp filters are not supported on %s", archName())
	}
	deny := uint32(retKillProcess)
	if f.Errno != 0 {
		deny = retErrno | uint32(f.Errno)
	}
	sp := spans(f)
	n := 4 + treeSize(sp)
	if n > maxBPFInsns {
		return nil, fmt.Errorf("seccomp program of %d instructions is longer than the kernel's %d", n, maxBPFInsns)
	}
	out := make([]unix.SockFilter, 0, n)
	out = append(out,
		load(offArch),
		jump(unix.BPF_JEQ, auditArch, 1, 0),
		ret(deny),
		load(offNr))
	return appendTree(out, sp, deny), nil
}

func load(off uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
}

func jump(cond uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | cond | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}

func ret(k uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k}
}

// spans returns the actions of every system call number, merged into
// runs: numbers past the host's table get the list's default (refused by
// a retain set, allowed by a remove set), x32 numbers are refused.
func spans(f *Filter) []span {
	clone, hasClone := Number("clone")
	clone3, hasClone3 := Number("clone3")
	restrict := f.restrictsNamespaces()
	retain := f.Mode == Retain
	out := make([]span, 0, 64)
	add := func(start uint32, a action) {
		if len(out) == 0 || out[len(out)-1].act != a {
			out = append(out, span{start, a})
		}
	}
	// Numbers in order, so the sorted list is walked once.
	i := 0
	for nr := uint32(0); nr <= maxSyscall; nr++ {
		for i < len(f.Syscalls) && f.Syscalls[i] < nr {
			i++
		}
		listed := (i < len(f.Syscalls) && f.Syscalls[i] == nr) == retain
		a := actAllow
		switch {
		case hasClone3 && nr == clone3 && (!listed && retain || listed && restrict):
			a = actENOSYS
		case !listed:
			a = actDeny
		case hasClone && nr == clone && restrict:
			a = actClone
		}
		add(nr, a)
	}
	beyond := actAllow
	if f.Mode == Retain {
		beyond = actDeny
	}
	add(maxSyscall+1, beyond)
	if x32Bit != 0 {
		add(x32Bit, actDeny)
	}
	return out
}

// appendTree appends a binary search over spans on the number in the
// accumulator, each leaf returning its span's verdict.
func appendTree(out []unix.SockFilter, s []span, deny uint32) []unix.SockFilter {
	if len(s) == 1 {
		return appendLeaf(out, s[0].act, deny)
	}
	mid := len(s) / 2
	left := treeSize(s[:mid])
	if left <= math.MaxUint8 {
		out = append(out, jump(unix.BPF_JGE, s[mid].start, uint8(left), 0))
	} else {
		// A conditional jump reaches 255 instructions at most: jump
		// over the left half with an unconditional one.
		out = append(out,
			jump(unix.BPF_JGE, s[mid].start, 0, 1),
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(left)})
	}
	out = appendTree(out, s[:mid], deny)
	return appendTree(out, s[mid:], deny)
}

// treeSize is the number of instructions appendTree emits for s.
func treeSize(s []span) int {
	if len(s) == 1 {
		if s[0].act == actClone {
			return 4
		}
		return 1
	}
	mid := len(s) / 2
	left := treeSize(s[:mid])
	n := 1 + left + treeSize(s[mid:])
	if left > math.MaxUint8 {
		n++
	}
	return n
}

func appendLeaf(out []unix.SockFilter, a action, deny uint32) []unix.SockFilter {
	switch a {
	case actAllow:
		return append(out, ret(retAllow))
	case actENOSYS:
		return append(out, ret(retErrno|uint32(unix.ENOSYS)))
	case actClone:
		return append(out,
			load(offArg0Low),
			jump(unix.BPF_JSET, namespaceFlags, 1, 0),
			ret(retAllow),
			ret(deny))
	}
	return append(out, ret(deny))
}

// Prog is an assembled filter ready to install, for a caller that must
// prepare everything before a sequence of raw system calls.
type Prog struct {
	insns []unix.SockFilter
	fprog unix.SockFprog
}

// Compile assembles f into a Prog.
func Compile(f *Filter) (*Prog, error) {
	insns, err := Program(f)
	if err != nil {
		return nil, err
	}
	p := &Prog{insns: insns}
	p.fprog = unix.SockFprog{Len: uint16(len(insns)), Filter: &p.insns[0]}
	return p, nil
}

// Install installs p on the calling thread, and so on every process the
// thread forks from now on. It needs no_new_privs or CAP_SYS_ADMIN. It
// makes one raw system call, so the Go scheduler does not run in between:
// a caller can install right before its exec with nothing else on the way.
func (p *Prog) Install() error {
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&p.fprog)))
	if errno != 0 {
		return fmt.Errorf("install seccomp filter: %w", errno)
	}
	return nil
}
