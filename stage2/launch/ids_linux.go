//go:build !386 && !arm

package launch

import "golang.org/x/sys/unix"

// setresuid and setresgid change the calling thread only (see
// setCredentials).
func setresuid(id uint32) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(id), uintptr(id), uintptr(id)); e != 0 {
		return e
	}
	return nil
}

func setresgid(id uint32) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(id), uintptr(id), uintptr(id)); e != 0 {
		return e
	}
	return nil
}
