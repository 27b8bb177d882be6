package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// netCmd runs the network probes: serve ADDR TEXT answers every TCP
// connection with TEXT; dial ADDR prints what a server there says (exit
// 1 when the connection fails); sink ADDR reads one connection to its
// end and prints how many bytes came and how long they took; send ADDR
// BYTES writes that many bytes to a server.
func netCmd(cmd string, args []string) int {
	switch {
	case cmd == "serve" && len(args) == 2:
		return serve(args[0], args[1])
	case cmd == "dial" && len(args) == 1:
		return dial(args[0])
	case cmd == "sink" && len(args) == 1:
		return sink(args[0])
	case cmd == "send" && len(args) == 2:
		return send(args[0], atoi(args[1:], 0))
	}
	return fail(fmt.Errorf("usage: serve ADDR TEXT | dial ADDR | sink ADDR | send ADDR BYTES"))
}

func serve(addr, text string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fail(err)
	}
	fmt.Println("listening", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			return fail(err)
		}
		go func() {
			fmt.Fprintf(c, "%s from %s\n", text, c.RemoteAddr())
			c.Close()
		}()
	}
}

func dial(addr string) int {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(os.Stdout, c); err != nil {
		return fail(err)
	}
	return 0
}

func sink(addr string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fail(err)
	}
	fmt.Println("listening", l.Addr())
	c, err := l.Accept()
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		return fail(err)
	}
	fmt.Printf("received bytes=%d seconds=%.3f\n", n, time.Since(start).Seconds())
	c.Close()
	return 0
}

func send(addr string, n int) int {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fail(err)
	}
	buf := make([]byte, 32<<10)
	for n > 0 {
		k := min(n, len(buf))
		if _, err := c.Write(buf[:k]); err != nil {
			return fail(err)
		}
		n -= k
	}
	// Done once the sink has it all: it closes when it read to the end.
	// Exiting earlier could end the pod, and its network, while the
	// data still sits in the socket's buffer.
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return fail(err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return fail(err)
	}
	return 0
}
