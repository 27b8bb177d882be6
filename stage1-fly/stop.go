package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// stopMain signals the app: `stop [--force] <uuid>`, cwd the pod dir.
// With no supervisor, the app is the pod; SIGTERM lets it end itself,
// --force kills it.
func stopMain(args []string) int {
	fs := pflag.NewFlagSet("stop", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	force := fs.Bool("force", false, "kill the app instead of asking it to stop")
	if err := fs.Parse(args); err != nil {
		logf("stop: %v", err)
		return exitFailure
	}
	if err := stop(*force); err != nil {
		logf("stop: %v", err)
		return exitFailure
	}
	return 0
}

func stop(force bool) error {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("pod pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("invalid pid file %q", strings.TrimSpace(string(b)))
	}
	sig := unix.SIGTERM
	if force {
		sig = unix.SIGKILL
	}
	if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	return nil
}
