package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// notifyFDEnv tells the pod's PID 1 which inherited fd leads to the run
// entrypoint's notify relay. It is only set when the pod runs under a
// Type=notify unit.
const notifyFDEnv = "SATURN_NOTIFY_FD"

// The messages the supervisor may relay to systemd; anything else on the
// pipe is dropped, so the pod can never claim more than these.
const (
	notifyReady    = "READY=1"
	notifyStopping = "STOPPING=1"
)

// relayDrain bounds how long the run entrypoint waits, after the pod
// ended, for the relay to pass on what the pod wrote last.
const relayDrain = time.Second

// notifyRelay passes the supervisor's state changes on to systemd. It
// runs in the run entrypoint because that process stays in the host's
// namespaces, where NOTIFY_SOCKET's path means something, and is the
// unit's main pid, whose messages systemd trusts by default; the
// supervisor has pivoted into the stage1 rootfs by the time it is ready.
type notifyRelay struct {
	r    *os.File
	w    *os.File // the pod's end, closed here once the pod has it
	done chan struct{}
	// before, when set, holds READY=1 back until it is closed (the
	// pod's registration with machined).
	before <-chan struct{}
}

// prepareNotify sets the pod's PID 1 up to report readiness when this
// process was started with NOTIFY_SOCKET: it returns the relay, whose
// pod end (w) becomes PID 1's fd 3, and env, PID 1's environment, which
// names that fd. NOTIFY_SOCKET itself never goes further than this
// process. The relay is nil when there is no one to notify.
func prepareNotify(env []string) (*notifyRelay, []string, error) {
	env = withoutEnv(env, "NOTIFY_SOCKET", notifyFDEnv)
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil, env, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("notify pipe: %w", err)
	}
	return &notifyRelay{r: r, w: w, done: make(chan struct{})}, append(env, notifyFDEnv+"=3"), nil
}

// start closes this process's copy of the pod's end, so the relay sees
// EOF when the pod ends, and relays until then, READY=1 once before is
// closed. Call it after the pod started.
func (n *notifyRelay) start(before <-chan struct{}) {
	if n == nil {
		return
	}
	n.before = before
	n.w.Close()
	go n.relay()
}

func (n *notifyRelay) relay() {
	defer close(n.done)
	defer n.r.Close()
	sc := bufio.NewScanner(n.r)
	for sc.Scan() {
		msg := sc.Text()
		if msg != notifyReady && msg != notifyStopping {
			continue
		}
		if msg == notifyReady && n.before != nil {
			<-n.before
		}
		if _, err := daemon.SdNotify(false, msg); err != nil {
			fmt.Fprintf(os.Stderr, "stage1: warning: sd_notify %s: %v\n", msg, err)
		}
	}
}

// wait lets the relay pass on the pod's last messages, up to relayDrain.
func (n *notifyRelay) wait() {
	if n == nil {
		return
	}
	select {
	case <-n.done:
	case <-time.After(relayDrain):
	}
}

// abort releases the relay of a pod that did not start.
func (n *notifyRelay) abort() {
	if n == nil {
		return
	}
	n.w.Close()
	n.r.Close()
}

// podNotifier is the pod's PID 1 end of the relay; its nil value sends
// nothing.
type podNotifier struct {
	f *os.File
}

// openPodNotifier takes the fd the run entrypoint passed, if any, and
// keeps it from the apps: they are exec'ed from this process and must not
// be able to write to systemd through it.
func openPodNotifier() *podNotifier {
	v := os.Getenv(notifyFDEnv)
	if v == "" {
		return nil
	}
	os.Unsetenv(notifyFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		fmt.Fprintf(os.Stderr, "stage1: warning: bad %s %q, not notifying\n", notifyFDEnv, v)
		return nil
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: warning: %s: %v, not notifying\n", notifyFDEnv, err)
		return nil
	}
	return &podNotifier{f: os.NewFile(uintptr(fd), "notify")}
}

// send tells the run entrypoint msg. A relay that is gone is no reason to
// disturb the pod, so failures are only warned about.
func (p *podNotifier) send(msg string) {
	if p == nil {
		return
	}
	if _, err := p.f.WriteString(msg + "\n"); err != nil {
		fmt.Fprintf(os.Stderr, "stage1: warning: notify %s: %v\n", msg, err)
	}
}

// appNotifyAddr returns a new abstract unix socket address on which the
// supervisor hears an app's sd_notify messages: abstract, so no file in
// the app's rootfs (which may be read-only) is needed, and it is gone
// with the socket when PID 1 exits. Abstract names belong to the network
// namespace, the host's with --net=host, where anyone may bind a name
// first: so the name is random, not derived from what others can read
// (the pod's UUID is in stage1's command line), and the socket stays
// bound for the pod's life (see readAppNotify).
func appNotifyAddr() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "@saturn-notify/" + hex.EncodeToString(b), nil
}

// listenAppNotify opens the notify socket of app a, an app whose image
// says it speaks sd_notify, and returns the NOTIFY_SOCKET value it gets.
// The app counts as started once it sends READY=1, as a Type=notify unit
// does for rkt's systemd stage1: then a is sent on s.ready.
func (s *supervisor) listenAppNotify(a *appPlan) (string, error) {
	addr, err := appNotifyAddr()
	if err != nil {
		return "", fmt.Errorf("notify socket: %w", err)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return "", fmt.Errorf("notify socket: %w", err)
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		conn.Close()
		return "", fmt.Errorf("notify socket: %w", err)
	}
	// Referenced here for the pod's life: a socket no one refers to
	// would be closed by its finalizer, freeing its name.
	s.notifySockets = append(s.notifySockets, conn)
	go s.readAppNotify(conn, a)
	return addr, nil
}

// readAppNotify waits for READY=1 from a process of the pod on conn. The
// kernel gives a sender outside the pod's PID namespace pid 0 in its
// credentials: such messages are dropped, so no host process can make an
// app ready on a host network's abstract socket. The socket is read, and
// what comes after READY=1 dropped, until PID 1 exits: closed, its name
// would be free for another process to bind and hear what the app sends
// later (STATUS=, FDSTORE=1 with its descriptors).
func (s *supervisor) readAppNotify(conn *net.UnixConn, a *appPlan) {
	buf := make([]byte, 4096)
	// Room for the credentials and for descriptors sent along, which
	// are closed; any beyond that the kernel drops itself.
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(64*4))
	ready := false
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			fmt.Fprintf(os.Stderr, "stage1: warning: app %s: notify socket: %v\n", a.name, err)
			return
		}
		// Descriptors passed along (FDSTORE=1) are not kept.
		closeRights(oob[:oobn])
		if !ready && senderInPod(oob[:oobn]) && notifiesReady(buf[:n]) {
			ready = true
			s.ready <- a
		}
	}
}

// closeRights closes the descriptors an SCM_RIGHTS message in oob brought.
func closeRights(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}
}

// senderInPod reports whether the SCM_CREDENTIALS in oob name a process
// the pod's PID namespace can see.
func senderInPod(oob []byte) bool {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return cred.Pid != 0
		}
	}
	return false
}

// notifiesReady reports whether an sd_notify datagram holds READY=1 on a
// line of its own.
func notifiesReady(msg []byte) bool {
	for _, l := range strings.Split(string(msg), "\n") {
		if l == notifyReady {
			return true
		}
	}
	return false
}
