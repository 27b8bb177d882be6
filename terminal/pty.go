// Package terminal gives pods terminals of their own and relays them:
// pseudo-terminal allocation, raw mode and window size of the caller's
// terminal, copying between a pty (or pipe) and the caller's streams,
// and handing descriptors over a unix socket.
//
// A pod never gets the caller's terminal: a process holding it could
// type into the caller's shell (TIOCSTI) or read what the operator types
// after the pod is gone. It gets a pty whose master only saturn holds.
package terminal

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Open allocates a pseudo-terminal from the ptmx device at ptmx, so the
// pair belongs to that device's devpts instance (a pod's own, inside the
// pod). The master is non-blocking, for the poller (see Output); the
// slave is opened through the master (TIOCGPTPEER), never by a path that
// could be swapped, and blocking, as a process's stdio expects. Neither
// becomes anyone's controlling terminal by being opened, and both are
// close-on-exec.
func Open(ptmx string) (master, slave *os.File, err error) {
	mfd, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", ptmx, err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("open pty peer: %w", errno)
	}
	name := "pts/" + strconv.FormatUint(uint64(n), 10)
	return os.NewFile(uintptr(mfd), "ptmx:"+name), os.NewFile(sfd, name), nil
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// Size is a terminal's window size.
type Size struct {
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
}

// GetSize returns the window size of the terminal fd.
func GetSize(fd int) (Size, error) {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return Size{}, fmt.Errorf("window size: %w", err)
	}
	return Size{Rows: ws.Row, Cols: ws.Col}, nil
}

// SetSize sets the window size of the terminal fd; on a pty master it
// reaches the slave's foreground process group as SIGWINCH. A zero size
// (unknown) is not set.
func SetSize(fd int, s Size) error {
	if s.Rows == 0 && s.Cols == 0 {
		return nil
	}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: s.Rows, Col: s.Cols}); err != nil {
		return fmt.Errorf("set window size: %w", err)
	}
	return nil
}

// CopySize gives the terminal to the window size of the terminal from.
func CopySize(to, from int) error {
	s, err := GetSize(from)
	if err != nil {
		return err
	}
	return SetSize(to, s)
}

// OutputOnly sets up the terminal fd for output nobody types into, such
// as a console relayed to a log: no echo of what is pushed into its
// input, and, unless post, no output processing (OPOST), so what its
// processes write reaches the master as they wrote it, with no "\r"
// added to each "\n".
func OutputOnly(fd int, post bool) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("terminal settings: %w", err)
	}
	t.Lflag &^= unix.ECHO | unix.ECHONL
	if !post {
		t.Oflag &^= unix.OPOST
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("terminal settings: %w", err)
	}
	return nil
}
