package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/mountinfo"
)

// stopMain is the stop entrypoint ([--force] <uuid>, cwd the pod
// directory): SIGTERM asks the supervisor to stop the apps gracefully,
// SIGKILL ends the whole pod at once.
func stopMain(args []string) int {
	fs := pflag.NewFlagSet("stop", pflag.ContinueOnError)
	force := fs.Bool("force", false, "kill the pod instead of stopping it gracefully")
	if err := fs.Parse(args); err != nil {
		return fail(err)
	}
	if fs.NArg() != 1 {
		return fail(fmt.Errorf("stop: expected one pod UUID argument"))
	}
	b, err := os.ReadFile("pid")
	if err != nil {
		return fail(fmt.Errorf("stop: pod %s is not running: %w", fs.Arg(0), err))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fail(fmt.Errorf("stop: bad pid file %q", strings.TrimSpace(string(b))))
	}
	sig := unix.SIGTERM
	if *force {
		sig = unix.SIGKILL
	}
	if err := unix.Kill(pid, sig); err != nil {
		return fail(fmt.Errorf("stop: pod %s (pid %d): %w", fs.Arg(0), pid, err))
	}
	return 0
}

// gcMain is the gc entrypoint ([--debug] <uuid>, cwd the pod directory).
// The pod's mounts live in its own mount namespace and vanish with it;
// gc detaches any that still show up below the stage1 rootfs on the host
// (the rootfs overlays themselves belong to stage0 and are left alone).
func gcMain(args []string) int {
	fs := pflag.NewFlagSet("gc", pflag.ContinueOnError)
	debug := fs.Bool("debug", false, "print what is released")
	if err := fs.Parse(args); err != nil {
		return fail(err)
	}
	if fs.NArg() != 1 {
		return fail(fmt.Errorf("gc: expected one pod UUID argument"))
	}
	podDir, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	mounts, err := stage1Mounts(podDir)
	if err != nil {
		return fail(fmt.Errorf("gc: %w", err))
	}
	for _, m := range mounts {
		if *debug {
			fmt.Fprintf(os.Stderr, "stage1: gc: unmounting %s\n", m)
		}
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fail(fmt.Errorf("gc: unmount %s: %w", m, err))
		}
	}
	return 0
}

// stage1Mounts lists host mount points stage1 could have made below the
// pod's stage1 rootfs, deepest first.
func stage1Mounts(podDir string) ([]string, error) {
	s1 := filepath.Join(podDir, "stage1", "rootfs")
	keep := map[string]bool{s1: true}
	if pm, err := loadPlanManifestOnly(); err == nil {
		for _, a := range pm.Apps {
			keep[filepath.Join(s1, "opt", "stage2", a.Name, "rootfs")] = true
		}
	}
	all, err := mountinfo.Under(s1)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, mp := range all {
		if !keep[mp] {
			out = append(out, mp)
		}
	}
	return out, nil
}

// loadPlanManifestOnly reads the pod manifest from the current (pod)
// directory.
func loadPlanManifestOnly() (*podManifest, error) {
	return readPodManifest("pod")
}
