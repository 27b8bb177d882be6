package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/saturn-pods/saturn/copytree"
	"github.com/saturn-pods/saturn/fdmount"
	"github.com/saturn-pods/saturn/inroot"
	"github.com/saturn-pods/saturn/mountinfo"
	"github.com/saturn-pods/saturn/stage1abi"
)

// flyMount is one mount into the app's rootfs. Source is a host path,
// or empty for a tmpfs; Target is a path inside the rootfs.
type flyMount struct {
	Source    string
	Target    string
	Recursive bool
	ReadOnly  bool
	// Share marks the source MS_SHARED first, so mounts the app makes
	// below a volume that is a host mount point reach the host (rkt fly).
	Share bool
	// File is set when the source is a file, so the target is one too.
	File bool
	// Empty is the volume whose directory Source is, for an empty volume.
	Empty *types.Volume
}

// planMounts lists the app's mounts in order: /dev, /proc and /sys of the
// host (recursive: they need their submounts), a fresh /tmp, the volumes
// and the DNS files. isMount says whether a host path is a mount point;
// emptyDir is where an empty volume's directory is created.
func planMounts(p *flyPod, isMount func(string) bool, dns stage1abi.DNSConfMode, emptyDir func(types.Volume) string) ([]flyMount, error) {
	ms := []flyMount{
		{Source: "/dev", Target: "/dev", Recursive: true},
		{Source: "/proc", Target: "/proc", Recursive: true},
		{Source: "/sys", Target: "/sys", Recursive: true},
		{Target: "/tmp"},
	}
	vols, err := appVolumes(p)
	if err != nil {
		return nil, err
	}
	for _, v := range vols {
		m := flyMount{Target: v.path}
		switch v.vol.Kind {
		case "host":
			if !filepath.IsAbs(v.vol.Source) {
				return nil, fmt.Errorf("volume %s: source %q is not an absolute path", v.vol.Name, v.vol.Source)
			}
			m.Source = filepath.Clean(v.vol.Source)
			m.Share = isMount(m.Source)
			// A file can only be bound onto a file: the target is made one
			// when the image lacks it.
			if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
				m.File = true
			}
			m.Recursive = v.vol.Recursive != nil && *v.vol.Recursive
		case "empty":
			m.Source = emptyDir(v.vol)
			vol := v.vol
			m.Empty = &vol
		default:
			return nil, fmt.Errorf("volume %s: unknown kind %q", v.vol.Name, v.vol.Kind)
		}
		m.ReadOnly = v.vol.ReadOnly != nil && *v.vol.ReadOnly
		ms = append(ms, m)
	}
	switch dns.Resolv {
	case "host":
		ms = append(ms, flyMount{Source: "/etc/resolv.conf", Target: "/etc/resolv.conf", ReadOnly: true, File: true})
	case "stage0":
		ms = append(ms, flyMount{Source: filepath.Join(p.stage1Rootfs(), "etc/resolv.conf"), Target: "/etc/resolv.conf", ReadOnly: true, File: true})
	}
	switch dns.Hosts {
	case "host":
		ms = append(ms, flyMount{Source: "/etc/hosts", Target: "/etc/hosts", ReadOnly: true, File: true})
	case "stage0":
		ms = append(ms, flyMount{Source: filepath.Join(p.stage1Rootfs(), "etc/hosts"), Target: "/etc/hosts", ReadOnly: true, File: true})
	}
	return ms, nil
}

// hostnameMount shows the hostname (the host's) on the app's
// /etc/hostname, read live as rkt's prepare-app showed it. It is bound
// after the planned mounts, over the image's file or a volume's.
var hostnameMount = flyMount{Source: "/proc/sys/kernel/hostname", Target: "/etc/hostname", ReadOnly: true, File: true}

type appVolume struct {
	vol  types.Volume
	path string
}

// appVolumes pairs the app's mounts (pod manifest mounts, then the image's
// mount points without one) with their volumes, refusing undeclared ones.
// A mount point takes the volume of its own name, or, as in rkt, an
// implicit empty volume when the pod declares none; a volume that does
// not say readOnly takes its mount point's.
func appVolumes(p *flyPod) ([]appVolume, error) {
	podVols := map[types.ACName]types.Volume{}
	for _, v := range p.manifest.Volumes {
		podVols[v.Name] = v
	}
	mps := map[types.ACName]types.MountPoint{}
	for _, mp := range p.App.MountPoints {
		mps[mp.Name] = mp
	}
	readOnlyFrom := func(v *types.Volume, name types.ACName) {
		if mp, ok := mps[name]; ok && v.ReadOnly == nil {
			ro := mp.ReadOnly
			v.ReadOnly = &ro
		}
	}
	var out []appVolume
	mounted := map[types.ACName]bool{}
	for _, m := range p.app.Mounts {
		v, ok := podVols[m.Volume]
		if m.AppVolume != nil {
			v, ok = *m.AppVolume, true
		}
		if !ok {
			return nil, fmt.Errorf("app %s: mount of undeclared volume %q", p.appName(), m.Volume)
		}
		path := m.Path
		if mp, ok := mps[types.ACName(path)]; ok && !filepath.IsAbs(path) {
			// Older manifests name the mount point instead of a path.
			path = mp.Path
		}
		// A relative path, or one with "..", is taken inside the app's
		// rootfs, from its root, as rkt did (--mount target=data).
		path = filepath.Join("/", path)
		readOnlyFrom(&v, m.Volume)
		mounted[m.Volume] = true
		out = append(out, appVolume{vol: v, path: path})
	}
	for _, mp := range p.App.MountPoints {
		if mounted[mp.Name] {
			continue
		}
		v, ok := podVols[mp.Name]
		if !ok {
			mode, uid, gid := "0755", 0, 0
			v = types.Volume{Name: mp.Name, Kind: "empty", Mode: &mode, UID: &uid, GID: &gid}
		}
		if !filepath.IsAbs(mp.Path) {
			return nil, fmt.Errorf("app %s: mount point %s has a relative path %q", p.appName(), mp.Name, mp.Path)
		}
		readOnlyFrom(&v, mp.Name)
		out = append(out, appVolume{vol: v, path: mp.Path})
	}
	return out, nil
}

// hostMountPoints returns the mount points of the calling process's
// mount namespace.
func hostMountPoints() (map[string]bool, error) {
	mps, err := mountinfo.Points()
	if err != nil {
		return nil, err
	}
	points := make(map[string]bool, len(mps))
	for _, mp := range mps {
		points[mp] = true
	}
	return points, nil
}

// hostMounts answers run's questions about the host's mount points. It
// asks statx about each path rather than reading the whole mount table,
// whose size grows with every mount on the host (each running pod has
// two or more); the table is read, once, only where a path alone cannot
// tell: for the mount that holds a path, or on kernels before 5.8, whose
// statx does not report mount roots.
type hostMounts struct {
	points map[string]bool // the mount table, once read
}

// isMount reports whether path is a mount point. A path that does not
// exist, or is a symlink, is none.
func (h *hostMounts) isMount(path string) bool {
	if h.points == nil {
		var stx unix.Statx_t
		err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, 0, &stx)
		if err != nil && err != unix.ENOSYS {
			return false
		}
		if err == nil && stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
			return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
		}
		if err := h.load(); err != nil {
			return false
		}
	}
	return h.points[path]
}

// mountOf returns the mount point that holds path: the longest mount
// point that is path or one of its parents.
func (h *hostMounts) mountOf(path string) (string, error) {
	if err := h.load(); err != nil {
		return "", err
	}
	return mountOf(path, h.points), nil
}

func (h *hostMounts) load() error {
	if h.points != nil {
		return nil
	}
	points, err := hostMountPoints()
	if err != nil {
		return fmt.Errorf("read host mounts: %w", err)
	}
	h.points = points
	return nil
}

// mountOf returns the mount point in mounts that holds path: the longest
// one that is path or one of its parents.
func mountOf(path string, mounts map[string]bool) string {
	for p := path; ; p = filepath.Dir(p) {
		if mounts[p] || p == "/" {
			return p
		}
	}
}

// mountsBelow returns the mount points strictly below dir, deepest first.
func mountsBelow(points map[string]bool, dir string) []string {
	var out []string
	for p := range points {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// applyMount performs m inside the rootfs root. The target is found and
// made on descriptors (fdmount.Target), symlinks followed with the rootfs
// as "/", so neither the image nor a writer of a volume mounted before
// can point a mount outside the rootfs.
func applyMount(root *os.File, m flyMount) error {
	target, err := fdmount.Target(root, m.Target, !m.File)
	if err != nil {
		return fmt.Errorf("mount target %s: %w", m.Target, err)
	}
	defer target.Close()
	if m.Source == "" {
		return fdmount.NewOn(target, "tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, "mode=1777")
	}
	return fdmount.BindOn(m.Source, target, m.Recursive, fdmount.ReadOnly(m.ReadOnly))
}

// makeEmptyVolume creates an empty volume's directory with the volume's
// mode and owner (0755, root by default). fresh says the directory is new
// and empty: the mount may fill it (fillEmptyVolume).
func makeEmptyVolume(dir string, v types.Volume) (fresh bool, err error) {
	mode := os.FileMode(0o755)
	if v.Mode != nil {
		n, err := strconv.ParseUint(*v.Mode, 8, 32)
		if err != nil {
			return false, fmt.Errorf("volume %s: invalid mode %q", v.Name, *v.Mode)
		}
		mode = os.FileMode(n)
	}
	_, err = os.Lstat(dir)
	fresh = os.IsNotExist(err)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	if err := os.Chmod(dir, mode); err != nil {
		return false, err
	}
	uid, gid := 0, 0
	if v.UID != nil {
		uid = *v.UID
	}
	if v.GID != nil {
		gid = *v.GID
	}
	return fresh, os.Chown(dir, uid, gid)
}

// fillEmptyVolume copies the image's directory at target (a path in
// rootfs), if it has one, into the new empty volume dir: its files, its
// owner and its mode, as rkt and Docker fill a volume mounted over an
// image directory.
func fillEmptyVolume(dir, rootfs, target string) error {
	path, err := inroot.Resolve(rootfs, target)
	if err != nil {
		return fmt.Errorf("mount target %s: %w", target, err)
	}
	src, err := os.OpenFile(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // no directory of the image there
	}
	defer src.Close()
	dst, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := copytree.Attrs(dst, src); err != nil {
		return fmt.Errorf("fill volume from the image's %s: %w", target, err)
	}
	if err := copytree.Into(dst, src); err != nil {
		return fmt.Errorf("fill volume from the image's %s: %w", target, err)
	}
	return nil
}
