package seccomp

import (
	"strings"
	"testing"
)

// FuzzNew feeds New what an image manifest may hold (a set of names and
// groups, an errno): it never panics, and what it accepts assembles into
// a program the kernel takes.
func FuzzNew(f *testing.F) {
	for _, seed := range []struct {
		remove bool
		set    string
		errno  string
	}{
		{false, "read,write", ""},
		{true, "@rkt/default-blacklist,socket", "ENOTSUP"},
		{true, "@appc.io/empty", "EPERM"},
		{false, "@appc.io/all", ""},
		{false, "@systemd/privileged,@systemd/network-io", "EACCES"},
		{true, "@docker/default-whitelist", "E"},
		{false, "@/", "EPERM"},
		{true, "chown32,read", ""},
	} {
		f.Add(seed.remove, seed.set, seed.errno)
	}
	f.Fuzz(func(t *testing.T, remove bool, set, errno string) {
		mode := Retain
		if remove {
			mode = Remove
		}
		flt, err := New(mode, strings.Split(set, ","), errno)
		if err != nil || flt == nil {
			return
		}
		prog, err := Program(flt)
		if err != nil {
			t.Fatalf("New(%v, %q, %q) accepted, Program: %v", mode, set, errno, err)
		}
		if len(prog) == 0 || len(prog) > maxBPFInsns {
			t.Fatalf("program of %d instructions", len(prog))
		}
	})
}
