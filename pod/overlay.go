package pod

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/atomicfile"
	"github.com/saturn-pods/saturn/stage1abi"
)

// UsesOverlay reports whether the pod's trees are overlay mounts.
func (p *Pod) UsesOverlay() bool {
	_, err := os.Stat(filepath.Join(p.Path(), stage1abi.OverlayPrepared))
	return err == nil
}

// TreeLocator gives the directory of a rendered tree by its id.
type TreeLocator func(treeID string) (string, error)

// Mount mounts the overlays of an overlay-prepared pod: stage1's rootfs,
// then every app's rootfs inside it, with each app's manifest beside its
// rootfs. The mounts live in the caller's mount namespace until gc or rm
// unmounts them. Pods prepared with copies need nothing.
func Mount(p *Pod, locate TreeLocator) error {
	if !p.UsesOverlay() {
		return nil
	}
	dir := p.Path()
	s1, err := stage1abi.ReadValue(filepath.Join(dir, stage1abi.Stage1TreeID))
	if err != nil {
		return err
	}
	pm, err := p.Manifest()
	if err != nil {
		return err
	}
	root := filepath.Join(dir, stage1abi.Stage1Rootfs)
	s1Upper := filepath.Join(dir, stage1abi.OverlayDir, s1, "upper")
	s1Tree, err := locate(s1)
	if err != nil {
		return fmt.Errorf("stage1: tree %s: %w", s1, err)
	}
	// Each app's directory in stage1's rootfs is made in the upper
	// directory before the overlay is mounted: made through the mounted
	// overlay, its parents would each be copied up first, which costs
	// more than the directories themselves. It is the same tree either
	// way.
	preMade := makeStage2Parents(filepath.Join(s1Tree, stage1abi.RootfsDir), s1Upper) == nil
	for _, ra := range pm.Apps {
		if preMade {
			if err := makeAppDir(dir, filepath.Join(s1Upper, stage1abi.Stage2Dir), ra.Name.String()); err != nil {
				return err
			}
		}
	}
	if err := mountOverlay(locate, s1, root, s1Upper, filepath.Join(dir, stage1abi.OverlayDir, s1, "work")); err != nil {
		return fmt.Errorf("stage1: %w", err)
	}
	for _, ra := range pm.Apps {
		name := ra.Name.String()
		info := filepath.Join(dir, stage1abi.AppsInfoDir, name)
		treeID, err := stage1abi.ReadValue(filepath.Join(info, stage1abi.TreeIDFile))
		if err != nil {
			return err
		}
		appDir := filepath.Join(root, stage1abi.Stage2Dir, name)
		if !preMade {
			if err := makeAppDir(dir, filepath.Join(root, stage1abi.Stage2Dir), name); err != nil {
				return err
			}
		}
		up := filepath.Join(dir, stage1abi.OverlayDir, treeID, "upper", name)
		work := filepath.Join(dir, stage1abi.OverlayDir, treeID, "work", name)
		if err := mountOverlay(locate, treeID, filepath.Join(appDir, stage1abi.RootfsDir), up, work); err != nil {
			return fmt.Errorf("app %s: %w", name, err)
		}
	}
	return nil
}

// makeStage2Parents makes opt/ and opt/stage2/ in the upper directory of
// stage1's overlay with the owner and mode they have in stage1's tree
// (0755 root where the tree lacks them), as a copy-up would, though
// without the tree directory's extended attributes. Where the tree has
// something else than a directory there, it fails, so the caller goes
// through the mounted overlay instead; an opt/ already made stays, with
// the owner and mode a copy-up would give it.
func makeStage2Parents(lower, upper string) error {
	rel := ""
	for _, name := range strings.Split(stage1abi.Stage2Dir, "/") {
		rel = filepath.Join(rel, name)
		mode, uid, gid := uint32(0o755), 0, 0
		var st unix.Stat_t
		err := unix.Lstat(filepath.Join(lower, rel), &st)
		switch {
		case err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR:
			return fmt.Errorf("%s in stage1's tree is not a directory", rel)
		case err == nil:
			mode, uid, gid = st.Mode&0o7777, int(st.Uid), int(st.Gid)
		case !os.IsNotExist(err):
			return err
		}
		path := filepath.Join(upper, rel)
		if err := unix.Mkdir(path, 0o700); err == unix.EEXIST {
			continue
		} else if err != nil {
			return err
		}
		if err := unix.Lchown(path, uid, gid); err != nil {
			return err
		}
		if err := unix.Chmod(path, mode); err != nil {
			return err
		}
	}
	return nil
}

// makeAppDir makes stage2/<app>/rootfs (the app's mount point) under
// stage2 and puts the app's image manifest beside it.
func makeAppDir(podDir, stage2, name string) error {
	appDir := filepath.Join(stage2, name)
	if err := os.MkdirAll(filepath.Join(appDir, stage1abi.RootfsDir), 0o755); err != nil {
		return err
	}
	return copyFile(filepath.Join(podDir, stage1abi.AppsInfoDir, name, stage1abi.ImageManifest), filepath.Join(appDir, stage1abi.ImageManifest))
}

func mountOverlay(locate TreeLocator, treeID, target, upper, work string) error {
	tree, err := locate(treeID)
	if err != nil {
		return fmt.Errorf("tree %s: %w", treeID, err)
	}
	lower := filepath.Join(tree, stage1abi.RootfsDir)
	if _, err := os.Stat(lower); err != nil {
		return fmt.Errorf("tree %s: %w", treeID, err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	// nodev: an app keeps CAP_MKNOD (appc's default set) and saturn has
	// no device cgroup, so a node it makes in its rootfs, or in the
	// stage1 rootfs, must not open a device of the host.
	if err := unix.Mount("overlay", target, "overlay", unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

// overlayProbePrefix names OverlaySupported's scratch directories; gc
// removes those a killed process left.
const overlayProbePrefix = ".overlay-probe-"

// overlayOKFile, in the pods directory, caches a successful probe: the
// probe's mount and lazy unmount cost every pod start a millisecond or
// more. The cache holds for one boot (one kernel) and one file system
// under the pods directory, the two things the answer depends on.
const overlayOKFile = ".overlay-supported"

// OverlaySupported checks by trying that overlayfs works with upper and
// work directories under dir, unless a probe under the same kernel and
// file system already succeeded.
func OverlaySupported(dir string) error {
	key, kerr := overlayProbeKey(dir)
	if kerr == nil {
		if b, err := os.ReadFile(filepath.Join(dir, overlayOKFile)); err == nil && string(b) == key {
			return nil
		}
	}
	if err := probeOverlay(dir); err != nil {
		return err
	}
	if kerr == nil {
		// Best effort: without the cache the next pod probes again.
		atomicfile.Write(filepath.Join(dir, overlayOKFile), []byte(key), 0o644)
	}
	return nil
}

// overlayProbeKey names the boot and the file system (device and type)
// of dir.
func overlayProbeKey(dir string) (string, error) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return "", err
	}
	// The device number alone could be handed to another file system
	// mounted there later in the same boot; its type goes with it.
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %d %x\n", strings.TrimSpace(string(boot)), st.Dev, fs.Type), nil
}

func probeOverlay(dir string) error {
	tmp, err := os.MkdirTemp(dir, overlayProbePrefix)
	if err != nil {
		return fmt.Errorf("overlay probe: %w", err)
	}
	defer os.RemoveAll(tmp)
	l, u, w, m := filepath.Join(tmp, "l"), filepath.Join(tmp, "u"), filepath.Join(tmp, "w"), filepath.Join(tmp, "m")
	if err := mkdirs(l, u, w, m); err != nil {
		return fmt.Errorf("overlay probe: %w", err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", l, u, w)
	if err := unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlayfs does not work under %s: %w", dir, err)
	}
	return unix.Unmount(m, unix.MNT_DETACH)
}
