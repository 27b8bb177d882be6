package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// syscallProbe makes each named system call as an attacker in the pod
// would, in a harmless form, and prints "NAME: OK" or "NAME: ERRNO" (the
// errno's name), so a test can tell what a seccomp filter let through:
//
//	keyctl       keyctl(KEYCTL_GET_KEYRING_ID, the user keyring): the
//	             keyring of uid 0, host root's when nothing stops it
//	add_key      add_key("user", ...) to this process's own keyring
//	request_key  request_key("user", a name nobody has): ENOKEY if allowed
//	socket       socket(AF_UNIX, SOCK_STREAM)
//	getpid       getpid, which every filter allows
//	clone-newuser fork a child in a new user namespace (clone)
func syscallProbe(names []string) int {
	for _, n := range names {
		var err error
		switch n {
		case "keyctl":
			_, _, e := syscall.RawSyscall(syscall.SYS_KEYCTL, 0, keySpecUserKeyring, 0)
			err = errnoErr(e)
		case "add_key":
			typ, desc, payload := cstr("user"), cstr("saturn-probe"), []byte("x")
			_, _, e := syscall.RawSyscall6(syscall.SYS_ADD_KEY, uintptr(unsafe.Pointer(typ)), uintptr(unsafe.Pointer(desc)),
				uintptr(unsafe.Pointer(&payload[0])), uintptr(len(payload)), keySpecProcessKeyring, 0)
			err = errnoErr(e)
		case "request_key":
			typ, desc := cstr("user"), cstr("saturn-probe-nobody-has")
			_, _, e := syscall.RawSyscall6(syscall.SYS_REQUEST_KEY, uintptr(unsafe.Pointer(typ)), uintptr(unsafe.Pointer(desc)), 0, 0, 0, 0)
			err = errnoErr(e)
		case "socket":
			var fd int
			if fd, err = syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0); err == nil {
				syscall.Close(fd)
			}
		case "getpid":
			_, _, e := syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
			err = errnoErr(e)
		case "clone-newuser":
			var pid int
			pid, err = syscall.ForkExec("/proc/self/exe", []string{"testapp", "exit", "0"}, &syscall.ProcAttr{
				Sys: &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER},
			})
			if err == nil {
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, 0, nil)
			}
		default:
			fmt.Fprintf(os.Stderr, "testapp: unknown system call probe %q\n", n)
			return 2
		}
		fmt.Printf("%s: %s\n", n, errnoName(err))
	}
	return 0
}

const (
	keySpecProcessKeyring = ^uintptr(1) // -2
	keySpecUserKeyring    = ^uintptr(3) // -4
)

func cstr(s string) *byte {
	p, _ := syscall.BytePtrFromString(s)
	return p
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// errnoName is "OK" for nil and the errno's symbolic name otherwise.
func errnoName(err error) string {
	if err == nil {
		return "OK"
	}
	e, ok := err.(syscall.Errno)
	if !ok {
		return err.Error()
	}
	for name, v := range map[string]syscall.Errno{
		"EPERM": syscall.EPERM, "EACCES": syscall.EACCES, "ENOSYS": syscall.ENOSYS, "ENOTSUP": syscall.ENOTSUP,
		"ENOKEY": syscall.ENOKEY, "EINVAL": syscall.EINVAL, "ENOENT": syscall.ENOENT, "EHWPOISON": syscall.Errno(133),
		"EDQUOT": syscall.EDQUOT,
	} {
		if e == v {
			return name
		}
	}
	return fmt.Sprintf("errno %d", int(e))
}
