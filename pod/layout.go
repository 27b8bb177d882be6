package pod

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saturn-pods/saturn/atomicfile"
	"github.com/saturn-pods/saturn/stage1abi"
)

// defaultPodFileMode is the mode of the files stage0 writes in a pod
// directory.
const defaultPodFileMode = 0o640

// Lay writes the prepared pod into its directory: pod manifest, stage1
// and app manifests and tree ids, and either overlayfs upper/work
// directories (mounted by Mount when the pod runs) or full copies of the
// trees.
func Lay(p *Pod, plan *Plan, overlay bool) error {
	dir := p.Path()
	s1 := plan.Stage1
	if err := os.MkdirAll(filepath.Join(dir, stage1abi.Stage1Rootfs), 0o755); err != nil {
		return fmt.Errorf("lay out pod: %w", err)
	}
	if err := copyFile(filepath.Join(s1.Path, stage1abi.ImageManifest), filepath.Join(dir, stage1abi.Stage1Dir, stage1abi.ImageManifest)); err != nil {
		return err
	}
	if err := writeNewPodFile(filepath.Join(dir, stage1abi.Stage1TreeID), []byte(s1.TreeID), defaultPodFileMode); err != nil {
		return err
	}
	if overlay {
		if err := mkdirs(filepath.Join(dir, stage1abi.OverlayDir, s1.TreeID, "upper"), filepath.Join(dir, stage1abi.OverlayDir, s1.TreeID, "work")); err != nil {
			return err
		}
	} else if err := copyTree(filepath.Join(s1.Path, stage1abi.RootfsDir), filepath.Join(dir, stage1abi.Stage1Rootfs)); err != nil {
		return fmt.Errorf("copy stage1 rootfs: %w", err)
	}
	for i, ra := range plan.Manifest.Apps {
		if err := layApp(dir, ra.Name.String(), plan.Apps[i], overlay); err != nil {
			return fmt.Errorf("app %s: %w", ra.Name, err)
		}
	}
	b, err := json.Marshal(plan.Manifest)
	if err != nil {
		return fmt.Errorf("pod manifest: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, stage1abi.PodManifest), b, defaultPodFileMode); err != nil {
		return err
	}
	if overlay {
		if err := writeNewPodFile(filepath.Join(dir, stage1abi.OverlayPrepared), nil, defaultPodFileMode); err != nil {
			return err
		}
	}
	return writeNewPodFile(filepath.Join(dir, stage1abi.PodCreated), nil, defaultPodFileMode)
}

func layApp(dir, name string, t Tree, overlay bool) error {
	info := filepath.Join(dir, stage1abi.AppsInfoDir, name)
	if err := os.MkdirAll(info, 0o755); err != nil {
		return err
	}
	if err := writeNewPodFile(filepath.Join(info, stage1abi.TreeIDFile), []byte(t.TreeID), defaultPodFileMode); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(t.Path, stage1abi.ImageManifest), filepath.Join(info, stage1abi.ImageManifest)); err != nil {
		return err
	}
	if overlay {
		return mkdirs(filepath.Join(dir, stage1abi.OverlayDir, t.TreeID, "upper", name), filepath.Join(dir, stage1abi.OverlayDir, t.TreeID, "work", name))
	}
	appDir := filepath.Join(dir, stage1abi.Stage1Rootfs, stage1abi.Stage2Dir, name)
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(t.Path, stage1abi.ImageManifest), filepath.Join(appDir, stage1abi.ImageManifest)); err != nil {
		return err
	}
	return copyTree(filepath.Join(t.Path, stage1abi.RootfsDir), filepath.Join(appDir, stage1abi.RootfsDir))
}

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}
