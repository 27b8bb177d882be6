package seccomp

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func nr(t *testing.T, name string) uint32 {
	t.Helper()
	n, ok := Number(name)
	if !ok {
		t.Fatalf("no system call %s on %s", name, archName())
	}
	return n
}

func TestNumberAndName(t *testing.T) {
	if n, ok := Number("read"); !ok || n != unix.SYS_READ {
		t.Errorf("Number(read) = %d, %v, want %d", n, ok, unix.SYS_READ)
	}
	if _, ok := Number("no_such_call"); ok {
		t.Error("Number(no_such_call) found a number")
	}
	if got := Name(unix.SYS_KEYCTL); got != "keyctl" {
		t.Errorf("Name(SYS_KEYCTL) = %q", got)
	}
	if !slices.IsSortedFunc(syscalls[:], func(a, b syscallEntry) int { return strings.Compare(a.name, b.name) }) {
		t.Error("the system call table is not in name order")
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    Mode
		set     []string
		errno   string
		allowed []string
		refused []string
		none    bool // no filter at all
		errno16 uint16
	}{
		{name: "retain names", mode: Retain, set: []string{"read", "write"},
			allowed: []string{"read", "write", "execve", "exit_group", "rt_sigreturn", "nanosleep"}, refused: []string{"open", "socket"}},
		{name: "remove names with errno", mode: Remove, set: []string{"socket"}, errno: "ENOTSUP",
			allowed: []string{"mount", "read"}, refused: []string{"socket"}, errno16: uint16(unix.ENOTSUP)},
		{name: "rkt blacklist", mode: Remove, set: []string{"@rkt/default-blacklist"},
			allowed: []string{"socket", "open_tree"}, refused: []string{"mount", "keyctl", "add_key", "request_key", "ptrace", "unshare", "setns"}},
		{name: "docker blacklist", mode: Remove, set: []string{"@docker/default-blacklist", "socket"},
			refused: []string{"mount", "socket"}},
		{name: "docker whitelist", mode: Retain, set: []string{"@docker/default-whitelist"},
			allowed: []string{"read", "clone", "chroot"}, refused: []string{"mount", "keyctl", "statx"}},
		{name: "rkt whitelist plus umount", mode: Retain, set: []string{"@rkt/default-whitelist", "umount2"},
			allowed: []string{"umount2", "socket"}, refused: []string{"mount"}},
		{name: "systemd mount", mode: Remove, set: []string{"@systemd/mount"},
			refused: []string{"mount", "umount2", "pivot_root", "chroot"}, allowed: []string{"open"}},
		{name: "systemd privileged nests clock module raw-io", mode: Remove, set: []string{"@systemd/privileged"},
			refused: []string{"settimeofday", "init_module", "iopl", "setuid", "reboot"}, allowed: []string{"read"}},
		{name: "systemd groups", mode: Retain, set: []string{"@systemd/network-io", "@systemd/process", "@systemd/default-whitelist"},
			allowed: []string{"socket", "clone", "unshare", "clock_gettime"}, refused: []string{"open"}},
		{name: "systemd obsolete and clock and raw-io", mode: Remove, set: []string{"@systemd/obsolete", "@systemd/clock", "@systemd/raw-io"},
			refused: []string{"_sysctl", "uselib", "clock_settime", "ioperm"}},
		{name: "appc all opts out", mode: Retain, set: []string{"read", "@appc.io/all"}, none: true},
		{name: "appc empty is the default", mode: Remove, set: []string{"@appc.io/empty"}, errno: "EACCES",
			allowed: []string{"read", "statx"}, refused: []string{"mount", "keyctl"}, errno16: uint16(unix.EACCES)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(tc.mode, tc.set, tc.errno)
			if err != nil {
				t.Fatal(err)
			}
			if tc.none {
				if f != nil {
					t.Fatalf("got filter %+v, want none", f)
				}
				return
			}
			if f.Errno != tc.errno16 && !(tc.errno == "" && f.Errno == 0) {
				t.Errorf("errno %d, want %d", f.Errno, tc.errno16)
			}
			for _, n := range tc.allowed {
				if !f.Allows(nr(t, n)) {
					t.Errorf("%s refused", n)
				}
			}
			for _, n := range tc.refused {
				if f.Allows(nr(t, n)) {
					t.Errorf("%s allowed", n)
				}
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		mode  Mode
		set   []string
		errno string
		want  string
	}{
		{Retain, nil, "", "must not be empty"},
		{Retain, []string{"read", "no_such_call"}, "", `unknown system call "no_such_call"`},
		// A real system call of i386, not of the host.
		{Remove, []string{"chown32"}, "", `unknown system call "chown32"`},
		{Remove, []string{"@rkt/no-such-group"}, "", `unknown seccomp group "@rkt/no-such-group"`},
		{Remove, []string{"@systemd/io-event"}, "", "unknown seccomp group"},
		{Remove, []string{"@nogroup"}, "", "unknown seccomp group"},
		{Retain, []string{"@appc.io/empty"}, "", "no meaning in a retain set"},
		{Remove, []string{"@appc.io/all"}, "", "no meaning in a remove set"},
		{Retain, []string{"@appc.io/all", "bogus"}, "", `unknown system call "bogus"`},
		{Remove, []string{"read"}, "ENOSUCH", `unknown errno "ENOSUCH"`},
		{Mode(7), []string{"read"}, "", "invalid seccomp mode"},
	} {
		_, err := New(tc.mode, tc.set, tc.errno)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%v, %q, %q) = %v, want an error with %q", tc.mode, tc.set, tc.errno, err, tc.want)
		}
	}
}

func TestParseErrno(t *testing.T) {
	for name, want := range map[string]unix.Errno{
		"EPERM": unix.EPERM, "ENOSYS": unix.ENOSYS, "ENOTSUP": unix.ENOTSUP, "EOPNOTSUPP": unix.EOPNOTSUPP,
		"EWOULDBLOCK": unix.EAGAIN, "EDEADLOCK": unix.EDEADLK, "EHWPOISON": unix.EHWPOISON, "": 0,
	} {
		got, err := ParseErrno(name)
		if err != nil || got != uint16(want) {
			t.Errorf("ParseErrno(%q) = %d, %v, want %d", name, got, err, want)
		}
	}
	for _, bad := range []string{"eperm", "E", "EPERM ", "1"} {
		if _, err := ParseErrno(bad); err == nil {
			t.Errorf("ParseErrno(%q) accepted", bad)
		}
	}
}

func TestParseMode(t *testing.T) {
	if m, err := ParseMode("retain"); err != nil || m != Retain {
		t.Errorf("retain: %v %v", m, err)
	}
	if m, err := ParseMode("remove"); err != nil || m != Remove {
		t.Errorf("remove: %v %v", m, err)
	}
	if _, err := ParseMode("blacklist"); err == nil {
		t.Error("blacklist accepted")
	}
}

func TestDefault(t *testing.T) {
	f := Default()
	if f.Mode != Retain || f.Errno != uint16(unix.EPERM) {
		t.Fatalf("default %v errno %d, want retain EPERM", f.Mode, f.Errno)
	}
	// Issue 10: the keyring of uid 0 is host root's.
	for _, n := range []string{"add_key", "keyctl", "request_key", "mount", "umount2", "unshare", "setns",
		"ptrace", "bpf", "init_module", "kexec_load", "reboot", "open_tree", "move_mount", "fsopen",
		"io_uring_setup", "userfaultfd", "perf_event_open", "pivot_root", "clone3"} {
		if f.Allows(nr(t, n)) {
			t.Errorf("default filter allows %s", n)
		}
	}
	for _, n := range []string{"read", "write", "openat", "clone", "execve", "rseq", "statx", "futex",
		"chroot", "setuid", "socket", "getrandom", "close_range", "faccessat2", "pidfd_open"} {
		if !f.Allows(nr(t, n)) {
			t.Errorf("default filter refuses %s", n)
		}
	}
}

func TestWidens(t *testing.T) {
	for _, tc := range []struct {
		mode Mode
		set  []string
		want []string // some of what it widens by; nil: nothing
	}{
		{Retain, []string{"read", "write", "socket"}, nil},
		{Retain, []string{"@docker/default-whitelist"}, nil},
		{Retain, []string{"read", "keyctl"}, []string{"keyctl"}},
		{Retain, []string{"@systemd/process"}, []string{"setns", "unshare"}},
		{Remove, []string{"@rkt/default-blacklist", "socket"}, []string{"io_uring_setup", "open_tree"}},
		{Remove, []string{"@appc.io/empty"}, nil},
	} {
		f, err := New(tc.mode, tc.set, "")
		if err != nil {
			t.Fatal(err)
		}
		got := Widens(f)
		if tc.want == nil && got != nil {
			t.Errorf("%v %q widens by %q, want nothing", tc.mode, tc.set, got)
		}
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%v %q widens by %q, want %s among them", tc.mode, tc.set, got, w)
			}
		}
	}
	if got := Widens(nil); !slices.Contains(got, "keyctl") {
		t.Errorf("no filter widens by %q, want keyctl among them", got)
	}
}

func TestDefaultWithout(t *testing.T) {
	names, err := DefaultWithout([]string{"@rkt/default-blacklist", "socket"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Retain, names, "")
	if err != nil {
		t.Fatal(err)
	}
	if w := Widens(f); w != nil {
		t.Errorf("an image's remove set read as a retain set widens the default by %q", w)
	}
	if f.Allows(nr(t, "socket")) || !f.Allows(nr(t, "read")) || f.Allows(nr(t, "open_tree")) {
		t.Errorf("socket, read, open_tree allowed: %v %v %v, want false true false",
			f.Allows(nr(t, "socket")), f.Allows(nr(t, "read")), f.Allows(nr(t, "open_tree")))
	}
	all, err := DefaultWithout([]string{"@appc.io/empty"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(Default().Syscalls) {
		t.Errorf("@appc.io/empty removes %d of %d", len(Default().Syscalls)-len(all), len(Default().Syscalls))
	}
	if _, err := DefaultWithout([]string{"nosuchcall"}); err == nil {
		t.Error("an unknown name accepted")
	}
}

func TestDefaultWithCaps(t *testing.T) {
	// appc's default capabilities gate nothing the default refuses.
	appcDefault := []int{unix.CAP_AUDIT_WRITE, unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FSETID, unix.CAP_FOWNER,
		unix.CAP_KILL, unix.CAP_MKNOD, unix.CAP_NET_RAW, unix.CAP_NET_BIND_SERVICE, unix.CAP_SETUID, unix.CAP_SETGID,
		unix.CAP_SETPCAP, unix.CAP_SETFCAP, unix.CAP_SYS_CHROOT}
	if got := DefaultWithCaps(appcDefault); !slices.Equal(got.Syscalls, Default().Syscalls) {
		t.Errorf("default capabilities change the default filter by %d calls", len(got.Syscalls)-len(Default().Syscalls))
	}
	admin := DefaultWithCaps(append(appcDefault, unix.CAP_SYS_ADMIN))
	for _, n := range []string{"mount", "umount2", "unshare", "setns", "open_tree"} {
		if !admin.Allows(nr(t, n)) {
			t.Errorf("CAP_SYS_ADMIN: %s refused", n)
		}
	}
	for _, n := range []string{"keyctl", "ptrace", "init_module"} {
		if admin.Allows(nr(t, n)) {
			t.Errorf("CAP_SYS_ADMIN: %s allowed", n)
		}
	}
	if all := DefaultWithCaps(nil); !all.Allows(nr(t, "ptrace")) || all.Allows(nr(t, "add_key")) {
		t.Error("every capability: ptrace refused or add_key allowed")
	}
}
