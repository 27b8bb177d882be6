package main

// Probes of the terminals a pod gets, doing what an attacker inside the
// pod would: type into whatever terminal it holds (TIOCSTI), read the
// console, leave a process behind that reads stdin.

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
	"unsafe"
)

// tiocsti PATH TEXT pushes TEXT and a newline into the input of the
// terminal at PATH ("-": stdin), as if typed there, and prints whether
// the kernel let it.
func tiocsti(args []string) int {
	if len(args) != 2 {
		return fail(fmt.Errorf("tiocsti PATH|- TEXT"))
	}
	fd := 0
	if args[0] != "-" {
		f, err := os.OpenFile(args[0], os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		fd = int(f.Fd())
	}
	for _, c := range []byte(args[1] + "\n") {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCSTI, uintptr(unsafe.Pointer(&c))); errno != 0 {
			fmt.Printf("tiocsti: %v\n", errno)
			return 0
		}
	}
	fmt.Println("tiocsti: ok")
	return 0
}

// consoleRead opens /dev/console, says so, and reads it until SIGTERM;
// then it prints what it read, or "nothing".
func consoleRead() int {
	f, err := os.OpenFile("/dev/console", os.O_RDONLY|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fail(err)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Println("console-open")
	var got []byte
	buf := make([]byte, 4096)
	for {
		// Whatever is there is read before a SIGTERM is looked at.
		n, _ := syscall.Read(int(f.Fd()), buf)
		if n > 0 {
			got = append(got, buf[:n]...)
			continue
		}
		select {
		case <-term:
			if len(got) == 0 {
				fmt.Println("console-read: nothing")
			} else {
				fmt.Printf("console-read: %q\n", got)
			}
			return 0
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// bgRead FILE leaves a process behind that reads stdin into FILE, and
// exits at once: as a command run by enter that forks a reader off.
func bgRead(args []string) int {
	if len(args) != 1 {
		return fail(fmt.Errorf("bg-read FILE"))
	}
	if os.Getenv("TESTAPP_BG_CHILD") == "" {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		cmd := exec.Command("/proc/self/exe", "bg-read", args[0])
		cmd.Env = append(os.Environ(), "TESTAPP_BG_CHILD=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, nil, nil
		cmd.ExtraFiles = []*os.File{w}
		if err := cmd.Start(); err != nil {
			return fail(err)
		}
		w.Close()
		// The child closes its end once it reads.
		r.Read(make([]byte, 1))
		fmt.Printf("bg-started %d\n", cmd.Process.Pid)
		return 0
	}
	signal.Ignore(syscall.SIGHUP)
	out, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fail(err)
	}
	syscall.Close(3)
	buf := make([]byte, 4096)
	for {
		n, err := os.Stdin.Read(buf)
		if n > 0 {
			out.Write(buf[:n])
		}
		if err != nil {
			break
		}
	}
	// Holds on to whatever it has for as long as the pod lives.
	time.Sleep(time.Hour)
	return 0
}

// winsize prints the rows and columns of the terminal on stdin.
func winsize() int {
	var ws struct{ Row, Col, X, Y uint16 }
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, 0, syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws))); errno != 0 {
		return fail(errno)
	}
	fmt.Printf("winsize %d %d\n", ws.Row, ws.Col)
	return 0
}
