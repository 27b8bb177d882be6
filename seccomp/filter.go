package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// The isolators this package implements, named as in appc.
const (
	IsolatorRetain = "os/linux/seccomp-retain-set"
	IsolatorRemove = "os/linux/seccomp-remove-set"
)

// Mode says what a filter's list of system calls is.
type Mode uint8

const (
	// Retain allows the listed system calls and refuses all others.
	Retain Mode = iota + 1
	// Remove refuses the listed system calls and allows all others.
	Remove
)

// ParseMode parses the mode= of --seccomp: "retain" or "remove".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "retain":
		return Retain, nil
	case "remove":
		return Remove, nil
	}
	return 0, fmt.Errorf("invalid seccomp mode %q (want retain or remove)", s)
}

// ModeOf returns the mode of the isolator called name, and false if it is
// no seccomp isolator.
func ModeOf(isolator string) (Mode, bool) {
	switch isolator {
	case IsolatorRetain:
		return Retain, true
	case IsolatorRemove:
		return Remove, true
	}
	return 0, false
}

func (m Mode) String() string {
	switch m {
	case Retain:
		return "retain"
	case Remove:
		return "remove"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// DefaultErrno is what saturn's default filter returns from a refused
// system call: EPERM, as Docker's default profile.
const DefaultErrno = uint16(unix.EPERM)

// Filter is a seccomp filter for the host architecture, as it travels
// from stage1's plan to the process that installs it. Treat it as
// immutable: Default and New may share Syscalls between filters.
type Filter struct {
	Mode Mode `json:"mode"`
	// Syscalls are the numbers of the listed system calls, sorted and
	// unique. A retain set always holds systemd's @default (see New).
	Syscalls []uint32 `json:"syscalls"`
	// Errno is returned by a refused system call; 0 kills the process
	// with SIGSYS instead, appc's default for an isolator without errno.
	Errno uint16 `json:"errno,omitempty"`
}

// Default returns saturn's default filter, applied to an app that has no
// seccomp isolator: rkt's default whitelist (@rkt/default-whitelist),
// the unprivileged system calls Linux gained since rkt's list was
// written, and systemd's @default, with EPERM for everything else. It
// refuses the kernel keyring (add_key, keyctl, request_key), mount and
// the new mount API, module loading, ptrace, bpf, io_uring, and creating
// or joining namespaces (unshare, setns, clone with a CLONE_NEW* flag).
func Default() *Filter {
	lists := defaultLists()
	n := 0
	for _, list := range lists {
		n += len(list)
	}
	nrs := make([]uint32, 0, n)
	for _, list := range lists {
		for _, n := range list {
			if nr, ok := Number(n); ok {
				nrs = append(nrs, nr)
			}
		}
	}
	return &Filter{Mode: Retain, Syscalls: sortUnique(nrs), Errno: DefaultErrno}
}

// DefaultWithCaps is Default for an app whose capability bounding set
// is caps (nil: every capability): it also allows the system calls each
// of those capabilities gates (mount and unshare with CAP_SYS_ADMIN,
// ptrace with CAP_SYS_PTRACE...), as Docker's default profile does.
// Within appc's default capabilities it is Default.
func DefaultWithCaps(caps []int) *Filter {
	if caps == nil {
		caps = make([]int, 41)
		for i := range caps {
			caps[i] = i
		}
	}
	f := Default()
	var extra []uint32
	for _, c := range caps {
		extra = append(extra, resolveList(capabilitySyscalls(c))...)
	}
	if len(extra) > 0 {
		f.Syscalls = sortUnique(append(append([]uint32(nil), f.Syscalls...), extra...))
	}
	return f
}

func defaultLists() [][]string {
	lists := [][]string{dockerWhitelist, newerUnprivileged, systemdDefault}
	if archName() == "arm64" || archName() == "arm" {
		lists = append(lists, armWhitelist)
	}
	return lists
}

// New resolves an isolator's set and errno, with rkt's meaning:
//
//   - a retain set allows its system calls and systemd's @default (the
//     calls an app cannot start or end without), which systemd added to
//     every whitelist rkt gave it; "@appc.io/all" anywhere in it means
//     no filter, and New returns nil;
//   - a remove set refuses its system calls; "@appc.io/empty" anywhere
//     in it means saturn's default filter (with the set's errno, if any);
//   - errno names what a refused call returns; empty kills with SIGSYS.
//
// Names are resolved for the host architecture. A name the host does not
// know, an unknown group, an unknown errno and an empty set are errors;
// so are "@appc.io/empty" in a retain set and "@appc.io/all" in a remove
// set, which rkt quietly turned into its default filter.
func New(mode Mode, set []string, errno string) (*Filter, error) {
	if mode != Retain && mode != Remove {
		return nil, fmt.Errorf("invalid seccomp mode %d", mode)
	}
	if len(set) == 0 {
		return nil, errors.New("seccomp set must not be empty")
	}
	e, err := ParseErrno(errno)
	if err != nil {
		return nil, err
	}
	var nrs []uint32
	for _, item := range set {
		switch {
		case item == "@appc.io/all" && mode == Retain:
			return nil, checkRest(set)
		case item == "@appc.io/empty" && mode == Remove:
			if err := checkRest(set); err != nil {
				return nil, err
			}
			f := Default()
			if errno != "" {
				f.Errno = e
			}
			return f, nil
		case item == "@appc.io/all" || item == "@appc.io/empty":
			return nil, fmt.Errorf("seccomp group %s has no meaning in a %s set", item, mode)
		}
		got, err := resolve(item)
		if err != nil {
			return nil, err
		}
		nrs = append(nrs, got...)
	}
	if mode == Retain {
		nrs = append(nrs, resolveList(systemdDefault)...)
	}
	return &Filter{Mode: mode, Syscalls: sortUnique(nrs), Errno: e}, nil
}

// checkRest checks the names of a set that one of appc's wildcards
// overrides: they are ignored, but must still be names.
func checkRest(set []string) error {
	for _, item := range set {
		if item == "@appc.io/all" || item == "@appc.io/empty" {
			continue
		}
		if _, err := resolve(item); err != nil {
			return err
		}
	}
	return nil
}

// resolve returns the numbers of one entry of a set: a system call name
// or an @group.
func resolve(item string) ([]uint32, error) {
	if !strings.HasPrefix(item, "@") {
		nr, ok := Number(item)
		if !ok {
			return nil, fmt.Errorf("unknown system call %q (on %s)", item, archName())
		}
		return []uint32{nr}, nil
	}
	lists, ok := group(item)
	if !ok {
		return nil, fmt.Errorf("unknown seccomp group %q (known: @appc.io/all, @appc.io/empty, @rkt/default-blacklist, @rkt/default-whitelist, @docker/default-blacklist, @docker/default-whitelist, @systemd/{clock,default-whitelist,mount,network-io,obsolete,privileged,process,raw-io})", item)
	}
	var nrs []uint32
	for _, l := range lists {
		nrs = append(nrs, resolveList(l)...)
	}
	return nrs, nil
}

// resolveList resolves a group's members, skipping those of other
// architectures.
func resolveList(names []string) []uint32 {
	var nrs []uint32
	for _, n := range names {
		if nr, ok := Number(n); ok {
			nrs = append(nrs, nr)
		}
	}
	return nrs
}

// group returns the member lists of a named group other than appc's.
func group(name string) ([][]string, bool) {
	scope, member, ok := strings.Cut(name, "/")
	if !ok {
		return nil, false
	}
	switch scope {
	case "@rkt":
		switch member {
		case "default-blacklist":
			return [][]string{dockerBlacklist}, true
		case "default-whitelist":
			if archName() == "arm64" || archName() == "arm" {
				return [][]string{dockerWhitelist, armWhitelist}, true
			}
			return [][]string{dockerWhitelist}, true
		}
	case "@docker":
		switch member {
		case "default-blacklist":
			return [][]string{dockerBlacklist}, true
		case "default-whitelist":
			return [][]string{dockerWhitelist}, true
		}
	case "@systemd":
		return systemdGroup(member)
	}
	return nil, false
}

// ParseErrno returns the number of an errno name ("EPERM", "ENOTSUP"),
// or 0 for "" (kill instead).
func ParseErrno(name string) (uint16, error) {
	if name == "" {
		return 0, nil
	}
	// Aliases unix.ErrnoName does not return.
	switch name {
	case "EWOULDBLOCK":
		return uint16(unix.EAGAIN), nil
	case "EDEADLOCK":
		return uint16(unix.EDEADLK), nil
	case "EOPNOTSUPP":
		return uint16(unix.EOPNOTSUPP), nil
	}
	// Linux's errno values end at EHWPOISON, 133; the table is a sorted
	// array, so this costs nothing at start-up.
	for e := unix.Errno(1); e < 256; e++ {
		if unix.ErrnoName(e) == name {
			return uint16(e), nil
		}
	}
	return 0, fmt.Errorf("unknown errno %q", name)
}

// Allows reports whether f lets system call nr through (clone: without a
// namespace flag, see Program).
func (f *Filter) Allows(nr uint32) bool {
	if clone3, ok := Number("clone3"); ok && nr == clone3 {
		return f.listed(nr) && !f.restrictsNamespaces()
	}
	return f.listed(nr)
}

// AllowsNames reports whether f lets through every system call named in
// names that the host has.
func (f *Filter) AllowsNames(names []string) bool {
	for _, n := range names {
		if nr, ok := Number(n); ok && !f.Allows(nr) {
			return false
		}
	}
	return true
}

// listed says what the list alone says of nr.
func (f *Filter) listed(nr uint32) bool {
	_, in := slices.BinarySearch(f.Syscalls, nr)
	return in == (f.Mode == Retain)
}

// restrictsNamespaces reports whether f refuses unshare, and so also the
// other ways of making a namespace (see Program).
func (f *Filter) restrictsNamespaces() bool {
	nr, ok := Number("unshare")
	return ok && !f.listed(nr)
}

// Widens returns the names of the system calls of the host that f lets
// through and saturn's default filter refuses, in name order; nil if f
// allows nothing more. A nil f (no filter) widens by everything the
// default refuses.
func Widens(f *Filter) []string {
	def := Default()
	var out []string
	for _, e := range syscalls {
		allowed := f == nil || f.Allows(e.nr)
		if allowed && !def.Allows(e.nr) {
			out = append(out, e.name)
		}
	}
	return out
}

// DefaultWithout returns the names of the system calls of saturn's
// default filter on the host, less those set names (names and groups as
// in New). It is how saturn reads a remove set that comes with an image:
// appc lets an implementation add its default blacklist to such a set,
// and saturn's is everything its default filter refuses, so an image can
// only narrow the default filter, never replace it with a blacklist.
func DefaultWithout(set []string) ([]string, error) {
	removed, err := New(Remove, set, "")
	if err != nil {
		return nil, err
	}
	if removed.Mode == Retain {
		// @appc.io/empty: nothing removed from the default.
		removed = &Filter{Mode: Remove}
	}
	def := Default()
	var out []string
	for _, e := range syscalls {
		if def.listed(e.nr) && removed.listed(e.nr) {
			out = append(out, e.name)
		}
	}
	return out, nil
}

func sortUnique(nrs []uint32) []uint32 {
	slices.Sort(nrs)
	return slices.Compact(nrs)
}
