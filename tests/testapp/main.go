// Command testapp is the static app that functional tests run inside pods.
// Each subcommand prints one fact about the environment it runs in, so a
// test can assert on what the runtime set up.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testapp <command> [args]")
		os.Exit(2)
	}
	os.Exit(run(os.Args[1], os.Args[2:]))
}

func run(cmd string, args []string) int {
	switch cmd {
	case "env":
		env := os.Environ()
		sort.Strings(env)
		for _, e := range env {
			fmt.Println(e)
		}
	case "id":
		groups, _ := os.Getgroups()
		sort.Ints(groups)
		fmt.Printf("uid=%d gid=%d groups=%s\n", os.Getuid(), os.Getgid(), joinInts(groups))
	case "cwd":
		wd, err := os.Getwd()
		if err != nil {
			return fail(err)
		}
		fmt.Println(wd)
	case "hostname":
		h, err := os.Hostname()
		if err != nil {
			return fail(err)
		}
		fmt.Println(h)
	case "args":
		for _, a := range args {
			fmt.Println(a)
		}
	case "exit":
		return atoi(args, 0)
	case "sleep":
		time.Sleep(time.Duration(atoi(args, 3600)) * time.Second)
	case "cat":
		return catFiles(args)
	case "write":
		if len(args) != 2 {
			return fail(fmt.Errorf("write FILE CONTENT"))
		}
		if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
			return fail(err)
		}
	case "ls":
		return list(args)
	case "ps":
		return ps()
	case "wait-signal":
		return waitSignal(args)
	case "notify":
		return notify(args)
	case "caps-escape":
		return capsEscape(args)
	case "tiocsti":
		return tiocsti(args)
	case "console-read":
		return consoleRead()
	case "bg-read":
		return bgRead(args)
	case "winsize":
		return winsize()
	case "escape":
		return escape(args)
	case "mount-beside":
		return mountBeside(args)
	case "keyring":
		return keyring(args)
	case "serve", "dial", "sink", "send":
		return netCmd(cmd, args)
	case "syscall":
		return syscallProbe(args)
	case "serve-listen":
		return serveListen()
	case "http":
		return httpServe(args)
	case "inherited-fds":
		return inheritedFDs()
	case "alloc":
		return alloc(args)
	case "spin":
		return spin(args)
	case "fork-bomb":
		return forkBomb()
	case "kernel-paths":
		return kernelPaths()
	default:
		fmt.Fprintf(os.Stderr, "testapp: unknown command %q\n", cmd)
		return 2
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "testapp: %v\n", err)
	return 1
}

func atoi(args []string, def int) int {
	if len(args) == 0 {
		return def
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return fail(err)
	}
	return n
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func catFiles(paths []string) int {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return fail(err)
		}
		os.Stdout.Write(b)
	}
	return 0
}

func list(dirs []string) int {
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			return fail(err)
		}
		for _, e := range ents {
			fmt.Println(e.Name())
		}
	}
	return 0
}

// ps prints "pid comm" for every process visible in /proc, which is how
// tests see whether apps share a PID namespace.
func ps() int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return fail(err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		fmt.Printf("%d %s\n", pid, strings.TrimSpace(string(comm)))
	}
	return 0
}

// waitSignal prints "ready", waits for SIGTERM, SIGINT, SIGHUP or SIGQUIT, prints which one
// arrived and exits with the code given (default 0).
func waitSignal(args []string) int {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	fmt.Println("ready")
	s := <-ch
	fmt.Printf("got %s\n", s)
	return atoi(args, 0)
}

// notify MARKER MSG [wait-signal args]: waits a second (so a readiness
// that does not wait for the app shows), writes MARKER, sends MSG to
// $NOTIFY_SOCKET as sd_notify does, then waits for a signal.
func notify(args []string) int {
	if len(args) < 2 {
		return fail(fmt.Errorf("notify MARKER MSG"))
	}
	time.Sleep(time.Second)
	if err := os.WriteFile(args[0], []byte("notified\n"), 0o644); err != nil {
		return fail(err)
	}
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return fail(fmt.Errorf("no NOTIFY_SOCKET"))
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fail(err)
	}
	_, err = c.Write([]byte(args[1]))
	c.Close()
	if err != nil {
		return fail(err)
	}
	return waitSignal(args[2:])
}
