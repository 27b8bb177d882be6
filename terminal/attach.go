package terminal

// Attaching: an app whose streams are in tty or stream mode has each
// served on a unix socket (SOCK_SEQPACKET) by its pod's supervisor, so
// that `saturn attach` can connect to it, detach, and connect again
// while the app runs on. One client is attached to a stream at a time.
//
// Every message is one packet: a type byte and its payload.
//
//	'd' data: the app's output (server to client) or input (client to server)
//	'w' window size (client to server, tty only): rows, cols, 16 bits each, big-endian
//	'x' refusal (server to client): why, after which the server hangs up

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
)

// Message types of the attach protocol.
const (
	MsgData    = 'd'
	MsgSize    = 'w'
	MsgRefused = 'x'
)

// maxPacket is the largest message the protocol sends.
const maxPacket = 32 * 1024

// backlogSize is how much of an app's output a stream keeps while no
// client is attached, for the next one to see first.
const backlogSize = 64 * 1024

// Stream serves one attachable stream of an app to attach clients: out
// is read for the app's output (a pty master, the read end of a pipe;
// nil for stdin), in is written with what the client types (the same
// master, the write end of a pipe; nil for stdout and stderr), and a
// pty's window size follows the client's.
type Stream struct {
	ln    *net.UnixListener
	out   *os.File
	in    *os.File
	tty   bool
	check func(*net.UnixConn) error

	mu      sync.Mutex
	client  *net.UnixConn
	backlog []byte
	ended   bool
	done    chan struct{}
}

// Serve listens on path for attach clients of the stream out/in (see
// Stream); check vets each client before it is attached. The stream
// ends, and its clients are hung up, when out ends (the app and
// everything holding its other end are gone); a stdin stream ends with
// Close.
func Serve(path string, out, in *os.File, tty bool, check func(*net.UnixConn) error) (*Stream, error) {
	os.Remove(path)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, err
	}
	s := &Stream{ln: ln, out: out, in: in, tty: tty, check: check, done: make(chan struct{})}
	go s.accept()
	if out != nil {
		go s.pump()
	}
	return s, nil
}

// Done is closed once the stream has ended.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Close ends the stream: no more clients, the current one hung up.
func (s *Stream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	s.ln.Close()
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
	close(s.done)
}

func (s *Stream) pump() {
	defer s.Close()
	buf := make([]byte, maxPacket)
	buf[0] = MsgData
	for {
		n, err := s.out.Read(buf[1:])
		if n > 0 {
			s.mu.Lock()
			if s.client != nil {
				if _, werr := s.client.Write(buf[:1+n]); werr != nil {
					s.client.Close()
					s.client = nil
				}
			} else {
				s.backlog = append(s.backlog, buf[1:1+n]...)
				if over := len(s.backlog) - backlogSize; over > 0 {
					s.backlog = append(s.backlog[:0], s.backlog[over:]...)
				}
			}
			s.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (s *Stream) accept() {
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		if err := s.attach(c); err != nil {
			refuse(c, err.Error())
		}
	}
}

func refuse(c *net.UnixConn, why string) {
	c.Write(append([]byte{MsgRefused}, why...))
	c.Close()
}

var errAttached = errors.New("another client is attached")

// attach makes c the stream's client: what the app wrote meanwhile
// first, then its output as it comes, and c's input to the app.
func (s *Stream) attach(c *net.UnixConn) error {
	if s.check != nil {
		if err := s.check(c); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errors.New("the app's stream has ended")
	}
	if s.client != nil {
		return errAttached
	}
	for b := s.backlog; len(b) > 0; {
		n := min(len(b), maxPacket-1)
		if _, err := c.Write(append([]byte{MsgData}, b[:n]...)); err != nil {
			c.Close()
			return nil
		}
		b = b[n:]
	}
	s.backlog = s.backlog[:0]
	s.client = c
	go s.serveInput(c)
	return nil
}

// serveInput passes what client c sends on until it detaches.
func (s *Stream) serveInput(c *net.UnixConn) {
	buf := make([]byte, maxPacket)
	for {
		n, err := c.Read(buf)
		if err != nil || n == 0 {
			break
		}
		switch buf[0] {
		case MsgData:
			if s.in != nil {
				s.in.Write(buf[1:n])
			}
		case MsgSize:
			if s.tty && n == 5 {
				SetSize(int(s.in.Fd()), Size{Rows: binary.BigEndian.Uint16(buf[1:]), Cols: binary.BigEndian.Uint16(buf[3:])})
			}
		}
	}
	s.mu.Lock()
	if s.client == c {
		s.client = nil
	}
	s.mu.Unlock()
	c.Close()
}

// SizeMessage is the 'w' message for size.
func SizeMessage(size Size) []byte {
	b := []byte{MsgSize, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[1:], size.Rows)
	binary.BigEndian.PutUint16(b[3:], size.Cols)
	return b
}

// DataWriter frames what is written to it as data messages on c.
type DataWriter struct{ C *net.UnixConn }

func (w DataWriter) Write(p []byte) (int, error) {
	for done := 0; done < len(p); {
		n := min(len(p)-done, maxPacket-1)
		if _, err := w.C.Write(append([]byte{MsgData}, p[done:done+n]...)); err != nil {
			return done, err
		}
		done += n
	}
	return len(p), nil
}

// ErrRefused is what CopyFrom returns when the server refused the client.
type ErrRefused string

func (e ErrRefused) Error() string { return string(e) }

// CopyFrom copies the data messages the server sends on c to dst until
// the server hangs up (the stream ended, or c was closed on detach).
func CopyFrom(dst io.Writer, c *net.UnixConn) error {
	buf := make([]byte, maxPacket)
	for {
		n, err := c.Read(buf)
		if err != nil || n == 0 {
			return nil
		}
		switch buf[0] {
		case MsgData:
			dst.Write(buf[1:n])
		case MsgRefused:
			return ErrRefused(buf[1:n])
		}
	}
}

// DetachKeys is the key sequence that detaches an attached terminal:
// Ctrl-P, Ctrl-Q, as in Docker.
var DetachKeys = []byte{0x10, 0x11}

// ErrDetached is what a DetachScanner's Write returns once the detach
// keys were typed.
var ErrDetached = errors.New("detached")

// DetachScanner passes what is written to it on to W, until the detach
// keys come, which are not passed on: then Write returns ErrDetached.
// A prefix of the keys is held back until the next byte tells.
type DetachScanner struct {
	W       io.Writer
	matched int
}

func (d *DetachScanner) Write(p []byte) (int, error) {
	var out []byte
	for _, b := range p {
		if b == DetachKeys[d.matched] {
			d.matched++
			if d.matched == len(DetachKeys) {
				if len(out) > 0 {
					d.W.Write(out)
				}
				return len(p), ErrDetached
			}
			continue
		}
		out = append(out, DetachKeys[:d.matched]...)
		d.matched = 0
		if b == DetachKeys[0] {
			d.matched = 1
			continue
		}
		out = append(out, b)
	}
	if len(out) > 0 {
		if _, err := d.W.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
