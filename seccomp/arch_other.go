//go:build !linux || (!amd64 && !arm64)

package seccomp

// saturn has no system call table for this architecture: Supported is
// false and no filter can be built.
const (
	auditArch = 0
	x32Bit    = 0
)

var syscalls = [0]syscallEntry{}

const maxSyscall = 0
