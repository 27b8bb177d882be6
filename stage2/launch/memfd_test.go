package launch

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMemfdRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 16 << 10, 100_000} {
		want := bytes.Repeat([]byte{'x', 0, 'y'}, size/3+1)[:size]
		fd, err := Memfd("test", want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadFD(fd)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("size %d: read back %d bytes that differ", size, len(got))
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("size %d: memfd not close-on-exec (flags %d, %v)", size, flags, err)
		}
		unix.Close(fd)
	}
	if _, err := ReadFD(-1); err == nil {
		t.Error("ReadFD of a bad fd: no error")
	}
}
