// Package journal sends log entries to systemd-journald over its native
// protocol (systemd.journal-fields(7), "Native Journal Protocol" in
// systemd's documentation): one datagram per entry on the socket
// /run/systemd/journal/socket, each field NAME=value on a line of its
// own, or NAME, a newline, the value's length as 64-bit little endian,
// the value and a newline when the value holds a newline. An entry too
// large for a datagram travels in a sealed memfd passed with SCM_RIGHTS.
//
// The connection is a datagram socket connected to journald once
// (Dial): it goes on working from a process that later changed its root
// or mount namespace, which the pod's PID 1 does, and it can be passed
// to another process as an fd (FromFD). go-systemd's journal package
// sends each entry to the socket's path from a socket of its own, which
// the pod no longer reaches after pivot_root.
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Socket is journald's native socket.
const Socket = "/run/systemd/journal/socket"

// Priorities (syslog's) of the PRIORITY field.
const (
	PriErr  = 3
	PriInfo = 6
)

// Field is one field of an entry.
type Field struct {
	Name, Value string
}

// Conn is a datagram socket connected to journald.
type Conn struct {
	fd int
}

// Dial connects to journald's native socket at path (Socket).
func Dial(path string) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("journal: connect %s: %w", path, err)
	}
	return &Conn{fd: fd}, nil
}

// FromFD returns the connection whose socket is fd, as Dial made it.
func FromFD(fd int) *Conn { return &Conn{fd: fd} }

// Fd is the connection's socket.
func (c *Conn) Fd() int { return c.fd }

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// Send sends one entry; one larger than a datagram can hold goes in a
// memfd. Send may be called from several goroutines at once: each entry
// is one datagram.
func (c *Conn) Send(fields []Field) error {
	b, err := Encode(fields)
	if err != nil {
		return err
	}
	err = unix.Send(c.fd, b, 0)
	if err == unix.EMSGSIZE || err == unix.ENOBUFS {
		err = c.sendMemfd(b)
	}
	if err != nil {
		return fmt.Errorf("journal: send: %w", err)
	}
	return nil
}

// sendMemfd passes the entry b in a sealed memfd, which journald reads
// in place of a datagram's payload.
func (c *Conn) sendMemfd(b []byte) error {
	fd, err := unix.MemfdCreate("journal-entry", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for rest := b; len(rest) > 0; {
		n, err := unix.Write(fd, rest)
		if err != nil {
			return err
		}
		rest = rest[n:]
	}
	// journald maps only a memfd nobody can change any more.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		return err
	}
	return unix.Sendmsg(c.fd, nil, unix.UnixRights(fd), nil, 0)
}

// Encode returns the datagram of an entry. Field names are journald's:
// upper-case letters, digits and underscores, not starting with a digit
// or an underscore (those are journald's own), at most 64 characters.
func Encode(fields []Field) ([]byte, error) {
	var b []byte
	for _, f := range fields {
		if err := checkName(f.Name); err != nil {
			return nil, err
		}
		b = append(b, f.Name...)
		if strings.IndexByte(f.Value, '\n') < 0 {
			b = append(b, '=')
			b = append(b, f.Value...)
		} else {
			b = append(b, '\n')
			b = binary.LittleEndian.AppendUint64(b, uint64(len(f.Value)))
			b = append(b, f.Value...)
		}
		b = append(b, '\n')
	}
	return b, nil
}

func checkName(name string) error {
	ok := name != "" && len(name) <= 64 && name[0] != '_' && (name[0] < '0' || name[0] > '9')
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
	}
	if !ok {
		return fmt.Errorf("journal: bad field name %q", name)
	}
	return nil
}

// errBadEntry is what Decode says of a datagram that is no entry.
var errBadEntry = errors.New("journal: malformed entry")

// Decode reads an entry as journald does, the other half of Encode
// (tests and tools that stand in for journald use it).
func Decode(b []byte) ([]Field, error) {
	var fields []Field
	for len(b) > 0 {
		nl := strings.IndexByte(string(b), '\n')
		if nl < 0 {
			return nil, errBadEntry
		}
		line := string(b[:nl])
		if name, value, ok := strings.Cut(line, "="); ok {
			fields = append(fields, Field{name, value})
			b = b[nl+1:]
			continue
		}
		b = b[nl+1:]
		if len(b) < 8 {
			return nil, errBadEntry
		}
		n := binary.LittleEndian.Uint64(b)
		b = b[8:]
		if n >= uint64(len(b)) || b[n] != '\n' {
			return nil, fmt.Errorf("%w: field %s of %s bytes", errBadEntry, line, strconv.FormatUint(n, 10))
		}
		fields = append(fields, Field{line, string(b[:n])})
		b = b[n+1:]
	}
	return fields, nil
}
