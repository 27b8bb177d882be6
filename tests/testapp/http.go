package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// httpServe ADDR|fds [DELAY]: the example images' server. It waits DELAY
// seconds (a slow start-up), listens on ADDR or takes the sockets of
// socket activation (fds), prints "ready monotonic=USEC" (CLOCK_MONOTONIC,
// the clock of systemd's ...TimestampMonotonic properties) and, with
// NOTIFY_SOCKET, only then sends READY=1. It answers every request with
// "hello from APP\n" until SIGTERM, then exits 0.
func httpServe(args []string) int {
	if len(args) < 1 {
		return fail(fmt.Errorf("http ADDR|fds [DELAY]"))
	}
	if len(args) > 1 {
		d, err := strconv.Atoi(args[1])
		if err != nil {
			return fail(err)
		}
		time.Sleep(time.Duration(d) * time.Second)
	}
	var ls []net.Listener
	if args[0] == "fds" {
		n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
		if err != nil || n < 1 || os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
			return fail(fmt.Errorf("no sockets passed (LISTEN_FDS=%q LISTEN_PID=%q)", os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID")))
		}
		for fd := 3; fd < 3+n; fd++ {
			l, err := net.FileListener(os.NewFile(uintptr(fd), "listen"))
			if err != nil {
				return fail(err)
			}
			ls = append(ls, l)
		}
	} else {
		l, err := net.Listen("tcp", args[0])
		if err != nil {
			return fail(err)
		}
		ls = append(ls, l)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", os.Getenv("AC_APP_NAME"))
	})
	for _, l := range ls {
		go http.Serve(l, h)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fail(err)
	}
	fmt.Printf("ready monotonic=%d\n", ts.Nano()/1000)
	if addr := os.Getenv("NOTIFY_SOCKET"); addr != "" {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
		if err != nil {
			return fail(err)
		}
		_, err = c.Write([]byte("READY=1"))
		c.Close()
		if err != nil {
			return fail(err)
		}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
	return 0
}
