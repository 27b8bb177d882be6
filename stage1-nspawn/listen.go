package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/activation"
	"github.com/saturn-pods/saturn/stage2/launch"
)

// Socket activation (package activation): the sockets systemd passed to
// saturn run reach the run entrypoint as its fds 3 onwards. It decides
// which app gets each (a socket nobody claims refuses the pod before
// anything exists) and hands them all to PID 1, which passes each app
// its own as fds 3 onwards. The app is started through the stage2
// helper, which sets LISTEN_PID to its own pid, the app's in the pod's
// PID namespace, right before it execs the app.

// listenFDsEnv tells PID 1 where the sockets it inherits are:
// "FIRST:COUNT".
const listenFDsEnv = "SATURN_LISTEN_FDS"

// planSockets finds the sockets passed to this process and gives each to
// the app that claims it (activation.Assign), recording in each app's
// plan which it gets.
func planSockets(p *podPlan) error {
	socks, err := activation.Received(os.Getenv, os.Getpid())
	if err != nil {
		return err
	}
	var apps []activation.App
	for _, a := range p.apps {
		ap := activation.App{Name: a.name}
		for _, pt := range a.ports {
			if pt.SocketActivated {
				ap.Ports = append(ap.Ports, pt.Name)
			}
		}
		apps = append(apps, ap)
	}
	owners, err := activation.Assign(socks, apps)
	if err != nil {
		return err
	}
	for _, a := range p.apps {
		a.listen = owners[a.name]
		var mine []activation.Socket
		for _, i := range a.listen {
			mine = append(mine, socks[i])
		}
		a.listenNames = activation.Names(mine)
	}
	p.sockets = socks
	return nil
}

// passSockets hands the pod's sockets to PID 1 after files, naming
// where they are in env.
func passSockets(p *podPlan, env []string, files []uintptr) ([]string, []uintptr) {
	if len(p.sockets) == 0 {
		return env, files
	}
	env = append(env, fmt.Sprintf("%s=%d:%d", listenFDsEnv, len(files), len(p.sockets)))
	for _, s := range p.sockets {
		files = append(files, uintptr(s.FD))
	}
	return env, files
}

// openPodSockets takes the sockets the run entrypoint passed PID 1, if
// any, and keeps them from every process PID 1 starts but the apps they
// are for.
func openPodSockets() ([]int, error) {
	v := os.Getenv(listenFDsEnv)
	os.Unsetenv(listenFDsEnv)
	if v == "" {
		return nil, nil
	}
	a, b, _ := strings.Cut(v, ":")
	first, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || first < 3 || n < 1 {
		return nil, fmt.Errorf("bad %s %q", listenFDsEnv, v)
	}
	fds := make([]int, n)
	for i := range fds {
		fds[i] = first + i
		if _, err := unix.FcntlInt(uintptr(fds[i]), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return nil, fmt.Errorf("socket %d: %w", fds[i], err)
		}
	}
	return fds, nil
}

// withSockets returns spec as the app a starts with its sockets among
// socks (PID 1's fds), or spec itself when it has none.
func withSockets(spec *launch.Spec, a *appPlan, socks []int) (*launch.Spec, error) {
	if len(a.listen) == 0 {
		return spec, nil
	}
	c := *spec
	for _, i := range a.listen {
		if i < 0 || i >= len(socks) {
			return nil, fmt.Errorf("app %s: socket %d was not passed", a.name, i)
		}
		c.Listen = append(c.Listen, socks[i])
	}
	if a.listenNames != "" {
		c.Env = append(slices.Clip(spec.Env), activation.EnvNames+"="+a.listenNames)
	}
	return &c, nil
}

// closeSockets closes PID 1's copies of the app's sockets once the app
// has them: nothing else of the pod gets them.
func closeSockets(a *appPlan, socks []int) {
	for _, i := range a.listen {
		if i >= 0 && i < len(socks) && socks[i] >= 0 {
			unix.Close(socks[i])
			socks[i] = -1
		}
	}
}
