package seccomp

import "runtime"

type syscallEntry struct {
	name string
	nr   uint32
}

// Number returns the number of the system call called name on the host
// architecture.
func Number(name string) (uint32, bool) {
	lo, hi := 0, len(syscalls)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch e := &syscalls[m]; {
		case e.name == name:
			return e.nr, true
		case e.name < name:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0, false
}

// Name returns the name of system call nr on the host architecture, or
// "" if it has none.
func Name(nr uint32) string {
	for _, e := range syscalls {
		if e.nr == nr {
			return e.name
		}
	}
	return ""
}

// Supported reports whether saturn knows the host architecture's system
// calls, and so can build filters for it.
func Supported() bool { return len(syscalls) > 0 && auditArch != 0 }

func archName() string { return runtime.GOARCH }
