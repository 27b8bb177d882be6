package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
// EOF when the pod ends, and relays until then. Call it after the pod
// started.
func (n *notifyRelay) start() {
	if n == nil {
		return
	}
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

// annSupportsNotify is the appc annotation by which an image says its app
// speaks sd_notify itself.
const annSupportsNotify = "appc.io/executor/supports-systemd-notify"

// warnNotifyApps names the apps whose image declares they speak sd_notify:
// rkt let such an app decide when the pod is ready, saturn reports the pod
// ready once every app has started and never hands NOTIFY_SOCKET to an
// app, so the user should know the app's own readiness is not waited for.
func warnNotifyApps(s1 string, p *podPlan) {
	for _, a := range p.apps {
		im, err := readImageManifest(filepath.Join(s1, a.rel, "manifest"))
		if err != nil {
			continue
		}
		if v, _ := im.annotation(annSupportsNotify); v == "true" {
			fmt.Fprintf(os.Stderr, "stage1: warning: app %s: %s is not supported; the pod is ready once its apps have started\n", a.name, annSupportsNotify)
		}
	}
}
