package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
)

// serveListen answers one connection on each socket passed by socket
// activation (fds 3 onwards, LISTEN_FDS of them) with what it was told:
// "app=NAME fd=N fds=LISTEN_FDS names=LISTEN_FDNAMES pid=ok|wrong", pid
// ok when LISTEN_PID is this process's pid as it sees it. It exits once
// every socket has been answered on.
func serveListen() int {
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		return fail(fmt.Errorf("LISTEN_FDS=%q", os.Getenv("LISTEN_FDS")))
	}
	pid := "wrong"
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		pid = "ok"
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for fd := 3; fd < 3+n; fd++ {
		l, err := net.FileListener(os.NewFile(uintptr(fd), "listen"))
		if err != nil {
			return fail(fmt.Errorf("fd %d: %w", fd, err))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := l.Accept()
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "app=%s fd=%d fds=%d names=%s pid=%s\n", os.Getenv("AC_APP_NAME"), fd, n, os.Getenv("LISTEN_FDNAMES"), pid)
		}()
	}
	fmt.Println("serving")
	wg.Wait()
	close(errs)
	for err := range errs {
		return fail(err)
	}
	return 0
}
