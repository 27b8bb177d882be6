package pod

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/appc/spec/schema"
	"golang.org/x/sys/unix"
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

// Images is what preparing a pod needs from the image store.
type Images interface {
	ImageManifests
	// RenderTree renders an image with its dependencies once and returns
	// the tree's id and directory (holding manifest and rootfs/).
	RenderTree(id string) (treeID, path string, err error)
}

// Tree is one rendered image a pod uses.
type Tree struct {
	ImageID  string
	TreeID   string
	Path     string
	Manifest *schema.ImageManifest
}

// Plan is a pod ready to be laid out: its manifest and the rendered trees
// of stage1 and of every app (in manifest order).
type Plan struct {
	Manifest *schema.PodManifest
	Stage1   Tree
	Apps     []Tree
}

// NewPlan renders the trees of stage1 and of every app and checks each app
// against its tree (CheckApp), the way stage1 and stage2 will look at
// it, so a pod stage1 would refuse is refused before its directory or
// any mount exists. A refusal is a *CheckError.
//
// The trees are rendered (or, when already there, verified) at the same
// time: verifying is mostly waiting for the file system, and each image
// is looked at once however many apps use it. Errors are reported in
// manifest order, stage1 first, as if done one after the other.
func NewPlan(pm *schema.PodManifest, stage1ID string, images Images) (*Plan, error) {
	ids := []string{stage1ID}
	for _, ra := range pm.Apps {
		ids = append(ids, ra.Image.ID.String())
	}
	trees := renderTrees(ids, images)
	s1 := trees[stage1ID]
	if s1.err != nil {
		return nil, fmt.Errorf("stage1: %w", s1.err)
	}
	plan := &Plan{Manifest: pm, Stage1: s1.tree}
	for _, ra := range pm.Apps {
		t := trees[ra.Image.ID.String()]
		if t.err != nil {
			return nil, fmt.Errorf("app %s: %w", ra.Name, t.err)
		}
		if err := checkRuntimeApp(&ra, t.tree); err != nil {
			return nil, err
		}
		plan.Apps = append(plan.Apps, t.tree)
	}
	return plan, nil
}

type renderResult struct {
	tree Tree
	err  error
}

// renderTrees renders every distinct image of ids concurrently. An image
// is rendered by one goroutine only: two holders of the shared tree lock
// in one process could each wait for the other to let go when the tree
// needs re-rendering.
func renderTrees(ids []string, images Images) map[string]*renderResult {
	out := map[string]*renderResult{}
	var wg sync.WaitGroup
	for _, id := range ids {
		if _, ok := out[id]; ok {
			continue
		}
		r := &renderResult{}
		out[id] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.tree, r.err = renderTree(id, images)
		}()
	}
	wg.Wait()
	return out
}

func renderTree(id string, images Images) (Tree, error) {
	im, err := images.Manifest(id)
	if err != nil {
		return Tree{}, err
	}
	treeID, path, err := images.RenderTree(id)
	if err != nil {
		return Tree{}, fmt.Errorf("render %s: %w", id, err)
	}
	if strings.ContainsAny(path, ",:") {
		return Tree{}, fmt.Errorf("tree path %q holds ',' or ':', which overlayfs options cannot carry", path)
	}
	return Tree{ImageID: id, TreeID: treeID, Path: path, Manifest: im}, nil
}

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
	if err := writePodFile(filepath.Join(dir, fileManifest), b, defaultPodFileMode); err != nil {
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

// UsesOverlay reports whether the pod's trees are overlay mounts.
func (p *Pod) UsesOverlay() bool {
	_, err := os.Stat(filepath.Join(p.Path(), fileOverlayMarker))
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
	s1, err := readTrimmed(filepath.Join(dir, fileStage1TreeID))
	if err != nil {
		return err
	}
	pm, err := p.Manifest()
	if err != nil {
		return err
	}
	root := filepath.Join(dir, stage1RootfsRel)
	s1Upper := filepath.Join(dir, dirOverlay, s1, "upper")
	s1Tree, err := locate(s1)
	if err != nil {
		return fmt.Errorf("stage1: tree %s: %w", s1, err)
	}
	// Each app's directory in stage1's rootfs is made in the upper
	// directory before the overlay is mounted: made through the mounted
	// overlay, its parents would each be copied up first, which costs
	// more than the directories themselves. It is the same tree either
	// way.
	preMade := makeStage2Parents(filepath.Join(s1Tree, treeRootfsDir), s1Upper) == nil
	for _, ra := range pm.Apps {
		if preMade {
			if err := makeAppDir(dir, filepath.Join(s1Upper, stage2Rel), ra.Name.String()); err != nil {
				return err
			}
		}
	}
	if err := mountOverlay(locate, s1, root, s1Upper, filepath.Join(dir, dirOverlay, s1, "work")); err != nil {
		return fmt.Errorf("stage1: %w", err)
	}
	for _, ra := range pm.Apps {
		name := ra.Name.String()
		info := filepath.Join(dir, dirAppsInfo, name)
		treeID, err := readTrimmed(filepath.Join(info, treeIDFile))
		if err != nil {
			return err
		}
		appDir := filepath.Join(root, stage2Rel, name)
		if !preMade {
			if err := makeAppDir(dir, filepath.Join(root, stage2Rel), name); err != nil {
				return err
			}
		}
		up := filepath.Join(dir, dirOverlay, treeID, "upper", name)
		work := filepath.Join(dir, dirOverlay, treeID, "work", name)
		if err := mountOverlay(locate, treeID, filepath.Join(appDir, treeRootfsDir), up, work); err != nil {
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
	for _, name := range strings.Split(stage2Rel, "/") {
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
	if err := os.MkdirAll(filepath.Join(appDir, treeRootfsDir), 0o755); err != nil {
		return err
	}
	return copyFile(filepath.Join(podDir, dirAppsInfo, name, imageManifestFile), filepath.Join(appDir, imageManifestFile))
}

func mountOverlay(locate TreeLocator, treeID, target, upper, work string) error {
	tree, err := locate(treeID)
	if err != nil {
		return fmt.Errorf("tree %s: %w", treeID, err)
	}
	lower := filepath.Join(tree, treeRootfsDir)
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
		writePodFile(filepath.Join(dir, overlayOKFile), []byte(key), 0o644)
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

// Manifest reads the pod manifest.
func (p *Pod) Manifest() (*schema.PodManifest, error) {
	b, err := p.ManifestBytes()
	if err != nil {
		return nil, err
	}
	var pm schema.PodManifest
	if err := json.Unmarshal(b, &pm); err != nil {
		return nil, fmt.Errorf("pod %s manifest: %w", p.UUID, err)
	}
	return &pm, nil
}

// ManifestBytes is the pod manifest as stored. A pod that another
// process moved on (gc marked it) is followed to its new place; one that
// was removed meanwhile is no pod found, not a pod without a manifest.
func (p *Pod) ManifestBytes() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(p.Path(), fileManifest))
	if errors.Is(err, os.ErrNotExist) && p.lock == nil {
		if rerr := p.Refresh(); rerr != nil {
			return nil, rerr
		}
		b, err = os.ReadFile(filepath.Join(p.Path(), fileManifest))
		if errors.Is(err, os.ErrNotExist) && (p.phase == dirGarbage || p.phase == dirExitedGarbage) {
			return nil, fmt.Errorf("no pod found with UUID %q: it is being removed", p.UUID)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pod %s has no manifest (yet): %w", p.UUID, err)
	}
	return b, nil
}

// Stage1Manifest reads the manifest of the pod's stage1 image.
func (p *Pod) Stage1Manifest() (*schema.ImageManifest, error) {
	b, err := os.ReadFile(filepath.Join(p.Path(), stage1Dir, imageManifestFile))
	if err != nil {
		return nil, fmt.Errorf("pod %s: stage1 manifest: %w", p.UUID, err)
	}
	var im schema.ImageManifest
	if err := json.Unmarshal(b, &im); err != nil {
		return nil, fmt.Errorf("pod %s: stage1 manifest: %w", p.UUID, err)
	}
	return &im, nil
}

// AppImageManifest reads the image manifest of one of the pod's apps.
func (p *Pod) AppImageManifest(app string) (*schema.ImageManifest, error) {
	b, err := os.ReadFile(filepath.Join(p.Path(), dirAppsInfo, app, imageManifestFile))
	if err != nil {
		return nil, fmt.Errorf("pod %s: app %s manifest: %w", p.UUID, app, err)
	}
	var im schema.ImageManifest
	if err := json.Unmarshal(b, &im); err != nil {
		return nil, fmt.Errorf("pod %s: app %s manifest: %w", p.UUID, app, err)
	}
	return &im, nil
}

// Stage1RootfsPath is where the pod's stage1 rootfs is.
func (p *Pod) Stage1RootfsPath() string { return filepath.Join(p.Path(), stage1RootfsRel) }

// stage1File finds a file stage1 wrote under its rootfs: the directory
// to resolve rel in, the mounted rootfs or, when the overlay is no longer
// mounted (after a reboot, or mid-gc), the overlay's upper directory.
func (p *Pod) stage1File(rel string) (dir, relOut string) {
	direct := p.Stage1RootfsPath()
	if _, err := os.Lstat(filepath.Join(direct, rel)); err == nil || !p.UsesOverlay() {
		return direct, rel
	}
	s1, err := readTrimmed(filepath.Join(p.Path(), fileStage1TreeID))
	if err != nil {
		return direct, rel
	}
	return filepath.Join(p.Path(), dirOverlay, s1, "upper"), rel
}

// openStage1File opens rel, a file stage1 wrote under its rootfs, for
// reading. The pod can write there: an app that escaped its chroot could
// replace any directory on the way (rkt/, say) with a symlink into the
// host, so no symlink is followed below the rootfs (openat2
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS; on kernels before 5.6 only the
// last component is checked). Opened without blocking: a FIFO would hang
// status and list.
func (p *Pod) openStage1File(rel string) (*os.File, error) {
	dir, rel := p.stage1File(rel)
	path := filepath.Join(dir, rel)
	const flags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat2(dfd, rel, &unix.OpenHow{Flags: flags,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
	if err == unix.ENOSYS {
		fd, err = unix.Openat(dfd, rel, flags, 0)
	}
	switch {
	case err == unix.ELOOP || err == unix.EXDEV:
		return nil, fmt.Errorf("%s goes through a symlink", path)
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// readStage1File reads rel below the stage1 rootfs as readTrimmed reads
// a file, resolved as openStage1File does.
func (p *Pod) readStage1File(rel string) (string, error) {
	f, err := p.openStage1File(rel)
	if err != nil {
		return "", err
	}
	return trimmedValue(f)
}

// CreationTime is when the pod finished preparing (zero before).
func (p *Pod) CreationTime() time.Time {
	fi, err := os.Stat(filepath.Join(p.Path(), fileCreated))
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// StartTime is when stage1 reported the pod's pid (zero before).
func (p *Pod) StartTime() time.Time {
	for _, f := range []string{"pid", "ppid"} {
		if fi, err := os.Stat(filepath.Join(p.Path(), f)); err == nil {
			return fi.ModTime()
		}
	}
	return time.Time{}
}

// maxSmallFile caps what readTrimmed reads. The files it reads hold one
// short value each (a pid, an exit status, "ready", a tree id of about
// 140 bytes); one page leaves ample room for them, and bounds what a
// file an app can write makes the host read and keep in memory.
const maxSmallFile = 4096

// readTrimmed reads a small file of one value, trimmed of white space.
// Several of these files (the pid files, stage1's rkt/status/<app> and
// rkt/supervisor-status) can be written, or replaced, by an app that
// escaped its chroot into the stage1 rootfs, and are read by the host as
// root: so the file itself must not be a symlink (which could name
// /etc/shadow, or /dev/zero), it is opened without blocking (a FIFO would
// hang status and list), it must be a regular file, and no more than
// maxSmallFile bytes are read; a larger file is refused.
func readTrimmed(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ELOOP {
			return "", fmt.Errorf("%s is a symlink, not a regular file", path)
		}
		return "", &os.PathError{Op: "open", Path: path, Err: err}
	}
	return trimmedValue(os.NewFile(uintptr(fd), path))
}

// trimmedValue reads and closes f, a regular file of at most
// maxSmallFile bytes holding one value, and trims it of white space.
func trimmedValue(f *os.File) (string, error) {
	defer f.Close()
	path := f.Name()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	}
	b := make([]byte, maxSmallFile+1)
	n, err := io.ReadFull(f, b)
	switch {
	case err == nil:
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxSmallFile)
	case err != io.EOF && err != io.ErrUnexpectedEOF:
		return "", &os.PathError{Op: "read", Path: path, Err: err}
	}
	s := strings.TrimSpace(string(b[:n]))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// clip shortens a value read from a file a pod can write before an error
// message shows it, so that a file pointed elsewhere shows little of it.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
