package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/activation"
)

// Socket activation: the app replaces this process (exec, not fork:
// see superviseApp), so it keeps the sockets systemd passed saturn (fds
// 3 onwards) and the pid LISTEN_PID names. Until the exec they are close-on-exec, so the exit watcher does
// not hold them; the app gets them, and the variables, only when one of
// its ports is socket-activated (else the pod is refused, as in
// stage1-nspawn).

// takeSockets returns the sockets passed to this process, close-on-exec.
func takeSockets() ([]activation.Socket, error) {
	socks, err := activation.Received(os.Getenv, os.Getpid())
	if err != nil {
		return nil, err
	}
	for _, s := range socks {
		if _, err := unix.FcntlInt(uintptr(s.FD), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return nil, fmt.Errorf("socket-activated fd %d: %w", s.FD, err)
		}
	}
	return socks, nil
}

// socketEnv returns the app's environment env with what tells it of
// socks, after checking that the app p claims them.
func socketEnv(p *flyPod, env []string, socks []activation.Socket) ([]string, error) {
	env = activation.Strip(env)
	if len(socks) == 0 {
		return env, nil
	}
	app := activation.App{Name: p.appName()}
	for _, pt := range p.App.Ports {
		if pt.SocketActivated {
			app.Ports = append(app.Ports, pt.Name.String())
		}
	}
	if _, err := activation.Assign(socks, []activation.App{app}); err != nil {
		return nil, err
	}
	return append(env, activation.Env(socks, os.Getpid())...), nil
}

// keepSockets lets the app inherit socks.
func keepSockets(socks []activation.Socket) error {
	for _, s := range socks {
		if _, err := unix.FcntlInt(uintptr(s.FD), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("socket-activated fd %d: %w", s.FD, err)
		}
	}
	return nil
}
