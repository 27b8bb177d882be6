// Package journaltest serves a socket in journald's place, for tests of
// what sends to the journal: it reads entries as journald does, the
// datagram's payload or the sealed memfd it carries.
package journaltest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/journal"
)

// Server is a datagram socket bound where journald's would be.
type Server struct {
	t  testing.TB
	fd int
	// Path is the socket's path.
	Path string
}

// Serve binds a socket called "socket" in dir, closed when the test ends.
func Serve(t testing.TB, dir string) *Server {
	t.Helper()
	path := filepath.Join(dir, "socket")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	// Senders run as other users in some tests.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	return &Server{t: t, fd: fd, Path: path}
}

// Next returns the next entry, or an error when none came within
// timeout.
func (s *Server) Next(timeout time.Duration) ([]journal.Field, error) {
	tv := unix.NsecToTimeval(int64(timeout))
	if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := unix.Recvmsg(s.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("no entry: %w", err)
	}
	payload := buf[:n]
	if oobn > 0 {
		if n != 0 {
			return nil, fmt.Errorf("a datagram with both a payload (%d bytes) and an fd", n)
		}
		if payload, err = readMemfd(oob[:oobn]); err != nil {
			return nil, err
		}
	}
	return journal.Decode(payload)
}

// MustNext is Next, failing the test when no entry comes within a minute.
func (s *Server) MustNext() []journal.Field {
	s.t.Helper()
	f, err := s.Next(time.Minute)
	if err != nil {
		s.t.Fatal(err)
	}
	return f
}

// Pending returns how many entries are waiting, reading them: once
// every sender is gone, what it sent is all queued.
func (s *Server) Pending() int {
	n := 0
	buf := make([]byte, 1)
	for {
		if _, _, err := unix.Recvfrom(s.fd, buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC); err != nil {
			return n
		}
		n++
	}
}

// readMemfd reads the one memfd passed in oob, after checking that it is
// sealed as journald demands.
func readMemfd(oob []byte) ([]byte, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("control messages %v: %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("passed fds %v: %v", fds, err)
	}
	f := os.NewFile(uintptr(fds[0]), "memfd")
	defer f.Close()
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if want := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE; err != nil || seals&want != want {
		return nil, fmt.Errorf("memfd seals %#x (%v), journald wants %#x", seals, err, want)
	}
	// journald maps it from its start; the offset is the sender's.
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Value returns the value of the field called name, and whether there is
// one.
func Value(fields []journal.Field, name string) (string, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}
