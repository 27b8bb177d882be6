package pod

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saturn-pods/saturn/atomicfile"
)

// Files stage0 writes in a pod directory (docs/stage1-abi.md).
const (
	fileManifest       = "pod"
	fileCreated        = "pod-created"
	fileStage1TreeID   = "stage1TreeStoreID"
	fileOverlayMarker  = "overlay-prepared"
	dirAppsInfo        = "appsinfo"
	dirOverlay         = "overlay"
	stage1Dir          = "stage1"
	stage1RootfsRel    = "stage1/rootfs"
	stage2Rel          = "opt/stage2"
	treeIDFile         = "treeStoreID"
	imageManifestFile  = "manifest"
	treeRootfsDir      = "rootfs"
	statusRel          = "rkt/status"
	supervisorRel      = "rkt/supervisor-status"
	defaultPodFileMode = 0o640
)

// Lay writes the prepared pod into its directory: pod manifest, stage1
// and app manifests and tree ids, and either overlayfs upper/work
// directories (mounted by Mount when the pod runs) or full copies of the
// trees.
func Lay(p *Pod, plan *Plan, overlay bool) error {
	dir := p.Path()
	s1 := plan.Stage1
	if err := os.MkdirAll(filepath.Join(dir, stage1RootfsRel), 0o755); err != nil {
		return fmt.Errorf("lay out pod: %w", err)
	}
	if err := copyFile(filepath.Join(s1.Path, imageManifestFile), filepath.Join(dir, stage1Dir, imageManifestFile)); err != nil {
		return err
	}
	if err := writeNewPodFile(filepath.Join(dir, fileStage1TreeID), []byte(s1.TreeID), defaultPodFileMode); err != nil {
		return err
	}
	if overlay {
		if err := mkdirs(filepath.Join(dir, dirOverlay, s1.TreeID, "upper"), filepath.Join(dir, dirOverlay, s1.TreeID, "work")); err != nil {
			return err
		}
	} else if err := copyTree(filepath.Join(s1.Path, treeRootfsDir), filepath.Join(dir, stage1RootfsRel)); err != nil {
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
	if err := atomicfile.Write(filepath.Join(dir, fileManifest), b, defaultPodFileMode); err != nil {
		return err
	}
	if overlay {
		if err := writeNewPodFile(filepath.Join(dir, fileOverlayMarker), nil, defaultPodFileMode); err != nil {
			return err
		}
	}
	return writeNewPodFile(filepath.Join(dir, fileCreated), nil, defaultPodFileMode)
}

func layApp(dir, name string, t Tree, overlay bool) error {
	info := filepath.Join(dir, dirAppsInfo, name)
	if err := os.MkdirAll(info, 0o755); err != nil {
		return err
	}
	if err := writeNewPodFile(filepath.Join(info, treeIDFile), []byte(t.TreeID), defaultPodFileMode); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(t.Path, imageManifestFile), filepath.Join(info, imageManifestFile)); err != nil {
		return err
	}
	if overlay {
		return mkdirs(filepath.Join(dir, dirOverlay, t.TreeID, "upper", name), filepath.Join(dir, dirOverlay, t.TreeID, "work", name))
	}
	appDir := filepath.Join(dir, stage1RootfsRel, stage2Rel, name)
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(t.Path, imageManifestFile), filepath.Join(appDir, imageManifestFile)); err != nil {
		return err
	}
	return copyTree(filepath.Join(t.Path, treeRootfsDir), filepath.Join(appDir, treeRootfsDir))
}

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}
