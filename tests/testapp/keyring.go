package main

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// keyring KEYID DESCRIPTION prints the serial of the process's session
// keyring ("session: N"), then what a search of it for a user key
// DESCRIPTION finds ("search: N" or "search: ERROR"), and whether the key
// KEYID can be read ("read: PAYLOAD" or "read: ERROR"): a key is read
// only by whoever possesses it, through a keyring of theirs.
func keyring(args []string) int {
	if len(args) != 2 {
		return fail(fmt.Errorf("keyring KEYID DESCRIPTION"))
	}
	id, err := strconv.Atoi(args[0])
	if err != nil {
		return fail(err)
	}
	ses, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	if err != nil {
		fmt.Printf("session: %v\n", err)
	} else {
		fmt.Printf("session: %d\n", ses)
	}
	if found, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "user", args[1], 0); err != nil {
		fmt.Printf("search: %v\n", err)
	} else {
		fmt.Printf("search: %d\n", found)
	}
	buf := make([]byte, 256)
	if n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0); err != nil {
		fmt.Printf("read: %v\n", err)
	} else {
		fmt.Printf("read: %s\n", buf[:min(n, len(buf))])
	}
	return 0
}
