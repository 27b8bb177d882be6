//go:build 386 || arm

package launch

import "golang.org/x/sys/unix"

// setresuid and setresgid change the calling thread only (see
// setCredentials); 32-bit ABIs need the 32-bit-id system calls.
func setresuid(id uint32) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID32, uintptr(id), uintptr(id), uintptr(id)); e != 0 {
		return e
	}
	return nil
}

func setresgid(id uint32) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID32, uintptr(id), uintptr(id), uintptr(id)); e != 0 {
		return e
	}
	return nil
}
