package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/saturn-pods/saturn/atomicfile"
	"github.com/saturn-pods/saturn/etcfiles"
	"github.com/saturn-pods/saturn/inroot"
)

// prepareEtc writes what the app finds in /etc besides the files bound
// there (planMounts), as under stage1-nspawn and rkt: with hosts mode
// default, an /etc/hosts for an image that has none; with stage0, the
// hostname on the localhost line of the file stage0 wrote; and an
// /etc/mtab symlink to the mount table where the image has /etc but no
// mtab. A fly pod's hostname is the host's.
func prepareEtc(p *flyPod, hostsMode string) error {
	hostname, err := os.Hostname()
	if err != nil {
		return err
	}
	switch hostsMode {
	case "default":
		if err := ensureHosts(p.rootfs(), hostname); err != nil {
			return err
		}
	case "stage0":
		f := filepath.Join(p.stage1Rootfs(), "etc/hosts")
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("stage0's hosts file: %w", err)
		}
		if err := atomicfile.Write(f, etcfiles.WithHostname(b, hostname), 0o644); err != nil {
			return err
		}
	}
	return ensureMtab(p.rootfs())
}

// ensureHosts gives an app without /etc/hosts one naming localhost and
// the hostname: the app shares the host's network, but not its /etc.
func ensureHosts(rootfs, hostname string) error {
	path, err := inroot.Resolve(rootfs, "/etc/hosts")
	if err != nil {
		return fmt.Errorf("app /etc/hosts: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("app /etc/hosts: %w", err)
	}
	if err := os.WriteFile(path, etcfiles.FallbackHosts(hostname), 0o644); err != nil {
		return fmt.Errorf("app /etc/hosts: %w", err)
	}
	return nil
}

// ensureMtab makes /etc/mtab a symlink to the app's mount table when the
// image has /etc and nothing at /etc/mtab, as rkt did.
func ensureMtab(rootfs string) error {
	etc, err := inroot.Resolve(rootfs, "/etc")
	if err != nil {
		return fmt.Errorf("app /etc/mtab: %w", err)
	}
	if st, err := os.Stat(etc); err != nil || !st.IsDir() {
		return nil
	}
	mtab := filepath.Join(etc, "mtab")
	if _, err := os.Lstat(mtab); err == nil {
		return nil
	}
	if err := os.Symlink(etcfiles.MtabTarget, mtab); err != nil && !os.IsExist(err) {
		return fmt.Errorf("app /etc/mtab: %w", err)
	}
	return nil
}
