package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/atomicfile"
	"github.com/saturn-pods/saturn/etcfiles"
	"github.com/saturn-pods/saturn/fdmount"
	"github.com/saturn-pods/saturn/inroot"
)

// What every app finds in its /etc besides DNS files, as under rkt's
// stage1: /etc/hostname shows the pod's hostname, /etc/mtab the app's
// mount table.

// setupEtc gives the app in root its /etc/hostname and /etc/mtab. The
// app's /proc must be mounted.
func setupEtc(root *os.File) error {
	if err := bindHostname(root); err != nil {
		return err
	}
	return ensureMtab(root)
}

// bindHostname binds the app's /proc/sys/kernel/hostname, read-only, on
// its /etc/hostname, replacing the image's: it reads as the hostname of
// the pod's UTS namespace, whatever the image says, as rkt's prepare-app
// made it.
func bindHostname(root *os.File) error {
	src, err := inroot.Open(root, "/proc/sys/kernel/hostname", 0)
	if err != nil {
		return fmt.Errorf("/etc/hostname: %w", err)
	}
	defer src.Close()
	target, err := fdmount.Target(root, "/etc/hostname", false)
	if err != nil {
		return err
	}
	defer target.Close()
	return fdmount.BindFileOn(src, target, false, unix.MOUNT_ATTR_RDONLY)
}

// ensureMtab makes /etc/mtab a symlink to the app's mount table when the
// image has an /etc and nothing at /etc/mtab, as rkt did.
func ensureMtab(root *os.File) error {
	etc, err := inroot.Open(root, "/etc", unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	defer etc.Close()
	err = unix.Symlinkat(etcfiles.MtabTarget, int(etc.Fd()), "mtab")
	if err != nil && err != unix.EEXIST {
		return fmt.Errorf("/etc/mtab: %w", err)
	}
	return nil
}

// addHostnameToStage0Hosts puts the pod's hostname on the localhost line
// of the hosts file stage0 wrote into the stage1 rootfs s1 (for
// --hosts-entry), which every app gets, as rkt's stage1 did.
func addHostnameToStage0Hosts(s1, hostname string) error {
	p := filepath.Join(s1, "etc", "hosts")
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("stage0's hosts file: %w", err)
	}
	return atomicfile.Write(p, etcfiles.WithHostname(b, hostname), 0o644)
}
