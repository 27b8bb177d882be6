package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// The probes of the cgroup tests: each does what an app under a limit
// does, and says what happened.

// alloc touches N MiB, one page at a time, printing its progress every
// 16 MiB (an app past its memory limit is killed partway), then, with a
// second argument, waits for that file to appear and touches N MiB more.
func alloc(args []string) int {
	if len(args) < 1 {
		return fail(fmt.Errorf("alloc MIB [TRIGGER-FILE]"))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return fail(err)
	}
	var keep [][]byte
	grab := func() {
		for i := 0; i < n; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
			if len(keep)%16 == 0 {
				fmt.Printf("allocated %d MiB\n", len(keep))
			}
		}
	}
	grab()
	fmt.Printf("holding %d MiB\n", len(keep))
	if len(args) > 1 {
		for {
			if _, err := os.Stat(args[1]); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		grab()
		fmt.Printf("holding %d MiB\n", len(keep))
	}
	return 0
}

// spin keeps THREADS threads busy for SECONDS of wall time and prints
// the CPU time the process used over that wall time:
// "cpu-over-wall: 0.253". With "wait" it then sleeps until killed.
func spin(args []string) int {
	if len(args) < 2 {
		return fail(fmt.Errorf("spin THREADS SECONDS [wait]"))
	}
	threads, _ := strconv.Atoi(args[0])
	secs, _ := strconv.Atoi(args[1])
	runtime.GOMAXPROCS(threads + 1)
	start := time.Now()
	end := start.Add(time.Duration(secs) * time.Second)
	done := make(chan struct{})
	for i := 0; i < threads; i++ {
		go func() {
			for x := 0; time.Now().Before(end); x++ {
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < threads; i++ {
		<-done
	}
	wall := time.Since(start)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return fail(err)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("cpu-over-wall: %.3f\n", cpu.Seconds()/wall.Seconds())
	if len(args) > 2 && args[2] == "wait" {
		for {
			time.Sleep(time.Hour)
		}
	}
	return 0
}

// forkBomb says "forking", forks children that only pause until fork fails, prints
// "forked: N (error)" and waits to be killed, children and all. It stops
// at 5000 children all the same (past the pods' default pids limit of
// 4096), so that run without a limit it shows the limit missing without
// taking the host's whole pid space. The children are raw forks that
// never return to the Go runtime: they loop in pause(2).
func forkBomb() int {
	fmt.Println("forking")
	n := 0
	ferr := syscall.Errno(0)
	for n < 5000 {
		pid, _, errno := syscall.RawSyscall(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0)
		if errno != 0 {
			ferr = errno
			break
		}
		if pid == 0 {
			for {
				syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
			}
		}
		n++
	}
	fmt.Printf("forked: %d (%v)\n", n, ferr)
	for {
		time.Sleep(time.Hour)
	}
}
