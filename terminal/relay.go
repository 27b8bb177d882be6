package terminal

import (
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Output copies what src, a pty master or the read end of a pipe, gives
// to dst until src ends: at end of file, or at EIO, which a pty master
// returns once no process holds its slave any more and everything
// written to it has been read. src must be non-blocking (registered
// with the poller) for Drain to work.
type Output struct {
	src    *os.File
	dst    io.Writer
	done   chan struct{}
	idle   atomic.Int64 // once draining: how long src may be quiet
	stopAt atomic.Int64 // once draining: when the copy ends anyway (unix ns)
}

// StartOutput starts copying src to dst. A dst that fails is dropped,
// and src is still read, so the writers never block on a full pty or
// pipe.
func StartOutput(dst io.Writer, src *os.File) *Output {
	o := &Output{src: src, dst: dst, done: make(chan struct{})}
	go o.copy()
	return o
}

func (o *Output) copy() {
	defer close(o.done)
	buf := make([]byte, 32*1024)
	for {
		n, err := o.src.Read(buf)
		if n > 0 && o.dst != nil {
			if _, werr := o.dst.Write(buf[:n]); werr != nil {
				o.dst = nil
			}
		}
		if n > 0 && o.idle.Load() > 0 {
			o.src.SetReadDeadline(o.deadline())
		}
		if err != nil {
			return
		}
	}
}

// Wait returns once src has ended.
func (o *Output) Wait() { <-o.done }

// Drain waits until src ends, or has given nothing for idle, or max
// has passed: a process the writer left behind may hold src's other end
// for as long as it likes, and write, while what the writer wrote before
// it exited is there at once (a pty may take a moment to pass it on).
// The relay is cut then; src stays open until the caller closes it.
func (o *Output) Drain(idle, max time.Duration) {
	o.stopAt.Store(time.Now().Add(max).UnixNano())
	o.idle.Store(int64(idle))
	o.src.SetReadDeadline(o.deadline())
	<-o.done
}

func (o *Output) deadline() time.Time {
	d := time.Now().Add(time.Duration(o.idle.Load()))
	if stop := time.Unix(0, o.stopAt.Load()); stop.Before(d) {
		return stop
	}
	return d
}

// Input copies what the caller types on src (its stdin, left blocking as
// the caller's shell expects it) to dst until Stop, src's end or a write
// to dst failing (Done tells). It reads only when src has input and Stop has not
// been called, so that once Stop returns nothing more is taken from the
// caller's terminal: what the operator types next goes to the shell,
// not to a pod.
type Input struct {
	src    int
	dst    io.Writer
	stop   [2]int // a pipe: closing stop[1] wakes the poll
	done   chan struct{}
	stopFn atomic.Bool
	// atEOF is called when src ends (not on Stop), e.g. to close the
	// write end of a pipe so the reader sees the end too.
	atEOF func()
}

// StartInput starts copying src to dst; atEOF, if not nil, runs when src
// reaches its end.
func StartInput(dst io.Writer, src int, atEOF func()) (*Input, error) {
	in := &Input{src: src, dst: dst, done: make(chan struct{}), atEOF: atEOF}
	if err := unix.Pipe2(in.stop[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	go in.copy()
	return in, nil
}

func (in *Input) copy() {
	defer close(in.done)
	defer unix.Close(in.stop[0])
	buf := make([]byte, 32*1024)
	fds := []unix.PollFd{{Fd: int32(in.src), Events: unix.POLLIN}, {Fd: int32(in.stop[0]), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		if fds[1].Revents != 0 || in.stopFn.Load() {
			return
		}
		n, err := unix.Read(in.src, buf)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if n <= 0 {
			if in.atEOF != nil {
				in.atEOF()
			}
			return
		}
		if _, err := in.dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// Stop ends the copy and returns once no read of src is under way.
func (in *Input) Stop() {
	if in.stopFn.Swap(true) {
		<-in.done
		return
	}
	unix.Close(in.stop[1])
	// A write blocked on a full pty, pipe or socket ends too.
	if d, ok := in.dst.(interface{ SetWriteDeadline(time.Time) error }); ok {
		d.SetWriteDeadline(time.Now())
	}
	<-in.done
}

// Done is closed once the copy has ended: Stop, src's end, or a write
// to dst failing (a DetachScanner's ErrDetached too).
func (in *Input) Done() <-chan struct{} { return in.done }
