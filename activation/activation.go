// Package activation hands the sockets a service manager passed to
// saturn (systemd's socket activation, sd_listen_fds(3)) on to the apps
// of a pod whose ports say they are socket-activated.
//
// systemd passes a process n listening sockets as its descriptors 3 to
// 3+n-1, says so in LISTEN_FDS=n, names the process in LISTEN_PID (so a
// child that inherits the environment does not take them for its own)
// and may name each socket in LISTEN_FDNAMES (colon-separated, from the
// socket unit's FileDescriptorName=, by default the unit's name). A pod
// hands each socket to the app that claims it (Assign); each app gets
// its sockets renumbered from 3 on, in the order received, with
// LISTEN_FDS, LISTEN_FDNAMES and a LISTEN_PID of its own (Env).
//
// Nothing here imports appc: stage1 passes the port names it read.
package activation

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The variables of the protocol.
const (
	EnvFDs   = "LISTEN_FDS"
	EnvPID   = "LISTEN_PID"
	EnvNames = "LISTEN_FDNAMES"
)

// FirstFD is the descriptor of the first socket passed.
const FirstFD = 3

// maxFDs bounds LISTEN_FDS: a larger number is a mistake, not sockets.
const maxFDs = 4096

// Socket is one descriptor passed by the service manager.
type Socket struct {
	FD int
	// Name is its LISTEN_FDNAMES entry, "" when none was given.
	Name string
}

// Received returns the sockets passed to the process pid according to
// getenv (os.Getenv). It returns none when LISTEN_FDS is unset or
// LISTEN_PID names another process: those were meant for someone else,
// as sd_listen_fds(3) decides.
func Received(getenv func(string) string, pid int) ([]Socket, error) {
	n := getenv(EnvFDs)
	if n == "" {
		return nil, nil
	}
	if p := getenv(EnvPID); p != strconv.Itoa(pid) {
		return nil, nil
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 0 || count > maxFDs {
		return nil, fmt.Errorf("%s=%q: not a number of sockets", EnvFDs, n)
	}
	var names []string
	if v := getenv(EnvNames); v != "" {
		names = strings.Split(v, ":")
	}
	socks := make([]Socket, count)
	for i := range socks {
		socks[i].FD = FirstFD + i
		if i < len(names) {
			socks[i].Name = names[i]
		}
	}
	return socks, nil
}

// App is an app of the pod and the names of its socket-activated ports.
type App struct {
	Name  string
	Ports []string
}

// Assign decides which app gets each socket and returns, per app name,
// the indexes into socks of its sockets, in order. A socket named after
// a socket-activated port goes to the app with that port; any other
// socket goes to the only app with socket-activated ports. A socket that
// no app claims, or that two apps' ports both name, is an error: the
// pod would otherwise start without serving it.
func Assign(socks []Socket, apps []App) (map[string][]int, error) {
	if len(socks) == 0 {
		return nil, nil
	}
	byPort := map[string][]string{}
	var activated []string
	for _, a := range apps {
		if len(a.Ports) > 0 {
			activated = append(activated, a.Name)
		}
		for _, p := range a.Ports {
			byPort[p] = append(byPort[p], a.Name)
		}
	}
	out := map[string][]int{}
	for i, s := range socks {
		owner, err := owner(s, byPort, activated)
		if err != nil {
			return nil, err
		}
		out[owner] = append(out[owner], i)
	}
	return out, nil
}

func owner(s Socket, byPort map[string][]string, activated []string) (string, error) {
	what := fmt.Sprintf("socket-activated fd %d", s.FD)
	if s.Name != "" {
		what += fmt.Sprintf(" (%q)", s.Name)
	}
	switch apps := byPort[s.Name]; {
	case s.Name != "" && len(apps) == 1:
		return apps[0], nil
	case s.Name != "" && len(apps) > 1:
		return "", fmt.Errorf("%s: apps %s all have a socket-activated port of that name", what, strings.Join(apps, ", "))
	}
	switch len(activated) {
	case 0:
		return "", fmt.Errorf("%s: no app of the pod has a socket-activated port to take it", what)
	case 1:
		return activated[0], nil
	}
	return "", errors.New(what + ": name it after one of the apps' socket-activated ports (FileDescriptorName=), apps " + strings.Join(activated, ", ") + " have some")
}

// Env returns the variables that hand an app the sockets socks, which
// it has as fds 3 onwards, when its pid is pid. LISTEN_FDNAMES is set
// when any socket has a name; an unnamed one is then "unknown", as
// sd_listen_fds_with_names(3) reports it.
func Env(socks []Socket, pid int) []string {
	env := []string{EnvPID + "=" + strconv.Itoa(pid), EnvFDs + "=" + strconv.Itoa(len(socks))}
	if n := Names(socks); n != "" {
		env = append(env, EnvNames+"="+n)
	}
	return env
}

// Names is the LISTEN_FDNAMES value for socks, "" when none is named.
func Names(socks []Socket) string {
	named := false
	names := make([]string, len(socks))
	for i, s := range socks {
		names[i] = s.Name
		if s.Name == "" {
			names[i] = "unknown"
		} else {
			named = true
		}
	}
	if !named {
		return ""
	}
	return strings.Join(names, ":")
}

// Strip returns env without the protocol's variables: what a process
// inherited was meant for it, not for the apps it starts.
func Strip(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k != EnvFDs && k != EnvPID && k != EnvNames {
			out = append(out, kv)
		}
	}
	return out
}
