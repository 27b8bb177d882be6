package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"

	"golang.org/x/sys/unix"
)

// catchStopSignals starts catching the signals a pod's processes pass
// on (SIGTERM, SIGINT, SIGHUP, SIGQUIT) and returns the channel they come
// on and a function that returns once they are caught. signal.Notify
// costs ~0.4 ms here: for each signal a round trip with the runtime's
// signal-mask thread, which it first starts. The caller does its own
// work meanwhile and waits before the point from which no signal may be
// missed.
func catchStopSignals() (<-chan os.Signal, func()) {
	sigs := make(chan os.Signal, 4)
	done := make(chan struct{})
	go func() {
		signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT)
		close(done)
	}()
	return sigs, func() { <-done }
}

// caughtFDEnv names the fd on which the pod's PID 1 tells the run
// entrypoint that it catches the stop signals, by closing it. PID 1
// installs its handlers while it sets the pod up; the run entrypoint
// writes the pid file, which stop reads, and forwards signals only after
// that, so no stop is lost to a PID 1 that would die of the signal.
const caughtFDEnv = "SATURN_CAUGHT_FD"

// waitCaught returns once PID 1 has closed its end of the pipe whose read
// end is fd (it caught the signals, or it is gone), and closes fd.
func waitCaught(fd int) {
	defer unix.Close(fd)
	b := make([]byte, 1)
	for {
		if _, err := unix.Read(fd, b); err != unix.EINTR {
			return
		}
	}
}

// tellCaught runs in PID 1: once caught returns, it closes the fd the run
// entrypoint waits on. The fd is made close-on-exec first, so no app can
// hold it open.
func tellCaught(caught func()) error {
	v := os.Getenv(caughtFDEnv)
	os.Unsetenv(caughtFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return fmt.Errorf("no signal pipe from the run entrypoint (%s=%q)", caughtFDEnv, v)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return fmt.Errorf("signal pipe: %w", err)
	}
	go func() {
		caught()
		unix.Close(fd)
	}()
	return nil
}
