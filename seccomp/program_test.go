package seccomp

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// run evaluates f's program on one system call in x/net/bpf's VM. The VM
// loads words big-endian where the kernel loads them in host order, so
// the data is laid out big-endian: the program sees the same values.
func run(t *testing.T, f *Filter, arch, nr uint32, arg0 uint64) uint32 {
	t.Helper()
	prog, err := Program(f)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]bpf.RawInstruction, len(prog))
	for i, p := range prog {
		raw[i] = bpf.RawInstruction{Op: p.Code, Jt: p.Jt, Jf: p.Jf, K: p.K}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("the program does not disassemble")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[offNr:], nr)
	binary.BigEndian.PutUint32(data[offArch:], arch)
	binary.BigEndian.PutUint32(data[offArg0Low:], uint32(arg0))
	binary.BigEndian.PutUint32(data[offArg0Low+4:], uint32(arg0>>32))
	out, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

func errnoRet(e unix.Errno) uint32 { return retErrno | uint32(e) }

func TestProgramDefault(t *testing.T) {
	f := Default()
	eperm := errnoRet(unix.EPERM)
	for _, tc := range []struct {
		call string
		arg0 uint64
		want uint32
	}{
		{"read", 0, retAllow},
		{"execve", 0, retAllow},
		{"rseq", 0, retAllow},
		{"keyctl", 0, eperm},
		{"add_key", 0, eperm},
		{"request_key", 0, eperm},
		{"mount", 0, eperm},
		{"unshare", unix.CLONE_NEWUSER, eperm},
		// Go's and libc's fork: allowed; a new namespace: refused.
		{"clone", unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD), retAllow},
		{"clone", unix.CLONE_NEWUSER | uint64(unix.SIGCHLD), eperm},
		{"clone", unix.CLONE_NEWNET, eperm},
		{"clone", unix.CLONE_NEWNS | unix.CLONE_NEWPID, eperm},
		{"clone3", 0, errnoRet(unix.ENOSYS)},
	} {
		if got := run(t, f, auditArch, nr(t, tc.call), tc.arg0); got != tc.want {
			t.Errorf("%s(%#x) = %#x, want %#x", tc.call, tc.arg0, got, tc.want)
		}
	}
	// Numbers past the table, of another arch or of x32 are refused.
	if got := run(t, f, auditArch, maxSyscall+1, 0); got != eperm {
		t.Errorf("number %d = %#x, want EPERM", maxSyscall+1, got)
	}
	if got := run(t, f, 0x40000003, nr(t, "read"), 0); got != eperm {
		t.Errorf("a system call of i386 = %#x, want EPERM", got)
	}
	if x32Bit != 0 {
		if got := run(t, f, auditArch, x32Bit|nr(t, "read"), 0); got != eperm {
			t.Errorf("an x32 read = %#x, want EPERM", got)
		}
	}
}

func TestProgramMatchesAllows(t *testing.T) {
	// Every number of the table, for filters of both modes: the program
	// says what Allows says.
	for _, tc := range []struct {
		mode Mode
		set  []string
	}{
		{Retain, []string{"@docker/default-whitelist"}},
		{Remove, []string{"@rkt/default-blacklist"}},
		{Remove, []string{"socket"}},
		{Retain, []string{"read", "write", "unshare", "clone3"}},
		{Retain, []string{"read"}},
	} {
		f, err := New(tc.mode, tc.set, "EACCES")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range syscalls {
			got := run(t, f, auditArch, e.nr, 0)
			if (got == retAllow) != f.Allows(e.nr) {
				t.Errorf("%v %q: %s returns %#x, Allows says %v", tc.mode, tc.set, e.name, got, f.Allows(e.nr))
			}
		}
	}
}

func TestProgramModes(t *testing.T) {
	kill, err := New(Remove, []string{"socket"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, kill, auditArch, nr(t, "socket"), 0); got != retKillProcess {
		t.Errorf("socket without errno = %#x, want kill", got)
	}
	// A remove set allows what the table does not know yet, but never
	// x32's numbers.
	if got := run(t, kill, auditArch, maxSyscall+1, 0); got != retAllow {
		t.Errorf("a future number under a remove set = %#x, want allow", got)
	}
	if x32Bit != 0 {
		if got := run(t, kill, auditArch, x32Bit|nr(t, "socket"), 0); got != retKillProcess {
			t.Errorf("x32 socket = %#x, want kill", got)
		}
	}
	// unshare allowed: namespaces too, and clone3 when listed.
	open, err := New(Remove, []string{"socket"}, "ENOTSUP")
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, open, auditArch, nr(t, "clone"), unix.CLONE_NEWUSER); got != retAllow {
		t.Errorf("clone(CLONE_NEWUSER) with unshare allowed = %#x", got)
	}
	if got := run(t, open, auditArch, nr(t, "clone3"), 0); got != retAllow {
		t.Errorf("clone3 with unshare allowed = %#x", got)
	}
	if got := run(t, open, auditArch, nr(t, "socket"), 0); got != errnoRet(unix.ENOTSUP) {
		t.Errorf("socket = %#x, want ENOTSUP", got)
	}
	// clone3 left out of a retain set fails with ENOSYS, not SIGSYS.
	retain, err := New(Retain, []string{"read", "unshare"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, retain, auditArch, nr(t, "clone3"), 0); got != errnoRet(unix.ENOSYS) {
		t.Errorf("clone3 outside a retain set = %#x, want ENOSYS", got)
	}
	if got := run(t, retain, auditArch, nr(t, "write"), 0); got != retKillProcess {
		t.Errorf("write outside a retain set = %#x, want kill", got)
	}
}

func TestProgramFarJumps(t *testing.T) {
	// Every other number: as many spans as numbers, so the left half of
	// the search outgrows a conditional jump's 255.
	var set []string
	for _, e := range syscalls {
		if e.nr%2 == 0 {
			set = append(set, e.name)
		}
	}
	f, err := New(Retain, set, "EPERM")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Program(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) < 2*255 {
		t.Fatalf("program of %d instructions: too short to need far jumps", len(prog))
	}
	for _, e := range syscalls {
		if got := run(t, f, auditArch, e.nr, 0); (got == retAllow) != f.Allows(e.nr) {
			t.Errorf("%s returns %#x, Allows says %v", e.name, got, f.Allows(e.nr))
		}
	}
}
