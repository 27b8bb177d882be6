package launch

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Memfd returns a close-on-exec memfd called name holding b, positioned
// at its start, to hand data to a child through an inherited fd rather
// than its arguments or environment, which other processes can read.
func Memfd(name string, b []byte) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("%s memfd: %w", name, err)
	}
	for err == nil && len(b) > 0 {
		var n int
		if n, err = unix.Write(fd, b); err == nil {
			b = b[n:]
		}
	}
	if err == nil {
		_, err = unix.Seek(fd, 0, 0)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("%s memfd: %w", name, err)
	}
	return fd, nil
}

// ReadFD reads fd to its end (a memfd from Memfd, or a pipe) without
// going through os.File and its poller. It does not close fd.
func ReadFD(fd int) ([]byte, error) {
	var b []byte
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return b, nil
		}
		b = append(b, buf[:n]...)
	}
}
