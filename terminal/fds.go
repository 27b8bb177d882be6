package terminal

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// SendFDs sends msg and the descriptors fds (SCM_RIGHTS) on the unix
// socket sock.
func SendFDs(sock int, msg []byte, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(sock, msg, oob, nil, 0); err != nil {
		return fmt.Errorf("send descriptors: %w", err)
	}
	return nil
}

// RecvFDs receives one message of at most len(buf) bytes and up to max
// descriptors on the unix socket sock, close-on-exec. n is 0 at the
// socket's end.
func RecvFDs(sock int, buf []byte, max int) (n int, fds []int, err error) {
	oob := make([]byte, unix.CmsgSpace(max*4))
	for {
		var oobn int
		n, oobn, _, _, err = unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("receive descriptors: %w", err)
		}
		fds, err = ParseRights(oob[:oobn])
		return n, fds, err
	}
}

// ParseRights returns the descriptors an SCM_RIGHTS control message
// carries.
func ParseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		f, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, fmt.Errorf("control message: %w", err)
		}
		fds = append(fds, f...)
	}
	return fds, nil
}
