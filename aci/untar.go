package aci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/saturn-pods/saturn/untar"
)

// ExtractOptions tune Extract.
type ExtractOptions struct {
	// RootfsOnly writes the rootfs content straight into dest and skips
	// the manifest.
	RootfsOnly bool
	// Overwrite replaces entries already present in dest, as layering
	// dependencies requires: a later entry wins over an existing file,
	// symlink or directory (a symlink is never followed to a directory
	// in its place). Without it, an existing non-directory is an error.
	Overwrite bool
	// PathWhitelist, when not empty, lists the absolute rootfs paths to
	// extract (appc pathWhitelist). Directories that are listed or lie
	// above a listed path are extracted too; everything else is skipped.
	PathWhitelist []string
	// HostSafe makes output host users may reach: no device nodes, no
	// setuid or setgid files, only user.* xattrs (untar.Options).
	HostSafe bool
}

// Extract writes the entries of an uncompressed ACI tar below dest
// (dest/manifest and dest/rootfs, or just the rootfs content with
// RootfsOnly), creating dest if needed.
//
// No entry can reach outside the tree: the untar package resolves every
// path inside the rootfs (see its documentation for what is restored).
func Extract(plainTar io.Reader, dest string, opts ExtractOptions) error {
	var filters []whitelist
	if len(opts.PathWhitelist) > 0 {
		filters = append(filters, newWhitelist(opts.PathWhitelist))
	}
	return extract(plainTar, dest, extractConfig{
		rootfsOnly:   opts.RootfsOnly,
		skipManifest: opts.RootfsOnly,
		overwrite:    opts.Overwrite,
		filters:      filters,
		hostSafe:     opts.HostSafe,
	})
}

type extractConfig struct {
	rootfsOnly   bool
	skipManifest bool
	overwrite    bool
	filters      []whitelist // an entry must pass all of them
	hostSafe     bool
}

func extract(r io.Reader, dest string, cfg extractConfig) error {
	x, err := newExtractor(dest, cfg)
	if err != nil {
		return err
	}
	defer x.close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tarError(err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return aciError(err)
		}
	}
	if err := x.rootfs.Finish(); err != nil {
		return aciError(err)
	}
	return nil
}

// aciError words the untar package's archive errors as ACI errors.
func aciError(err error) error {
	if errors.Is(err, untar.ErrTruncated) {
		return fmt.Errorf("invalid ACI: %w", err)
	}
	return err
}

// extractor maps ACI entry names onto two trees: dest (for the manifest)
// and the rootfs (dest/rootfs, or dest itself with rootfsOnly).
type extractor struct {
	cfg     extractConfig
	dest    *untar.Tree
	rootfs  *untar.Tree
	skipped map[string]bool // regular files filtered out by a whitelist
}

func newExtractor(dest string, cfg extractConfig) (*extractor, error) {
	opts := untar.Options{Overwrite: cfg.overwrite, HostSafe: cfg.hostSafe}
	d, err := untar.Open(dest, opts)
	if err != nil {
		return nil, err
	}
	x := &extractor{cfg: cfg, dest: d, rootfs: d, skipped: map[string]bool{}}
	if !cfg.rootfsOnly {
		if x.rootfs, err = d.Sub(RootfsName); err != nil {
			d.Close()
			return nil, err
		}
	}
	return x, nil
}

func (x *extractor) close() {
	if x.rootfs != x.dest {
		x.rootfs.Close()
	}
	x.dest.Close()
}

func (x *extractor) entry(hdr *tar.Header, body io.Reader) error {
	name, err := EntryName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // the archive's top directory: dest itself
	}
	if name == ManifestName {
		if x.cfg.skipManifest {
			return nil
		}
		if hdr.Typeflag != tar.TypeReg {
			return errors.New("invalid ACI: manifest is not a regular file")
		}
		return x.dest.Entry(ManifestName, &tar.Header{
			Name: hdr.Name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: hdr.ModTime, Size: hdr.Size,
		}, body)
	}
	if err := checkEntryType(name, hdr); err != nil {
		return err
	}
	rel := rootfsRel(name) // "" is the rootfs itself
	if !x.allowed(rel, hdr.Typeflag == tar.TypeDir) {
		if hdr.Typeflag == tar.TypeReg {
			x.skipped[rel] = true
		}
		return nil
	}
	if hdr.Typeflag == tar.TypeLink {
		if hdr, err = x.linkHeader(hdr); err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
	}
	return x.rootfs.Entry(rel, hdr, body)
}

func rootfsRel(name string) string {
	return strings.TrimPrefix(strings.TrimPrefix(name, RootfsName), "/")
}

// linkHeader returns hdr with its link target made rootfs-relative.
func (x *extractor) linkHeader(hdr *tar.Header) (*tar.Header, error) {
	target, err := EntryName(hdr.Linkname)
	if err != nil || !strings.HasPrefix(target, RootfsName+"/") {
		return hdr, fmt.Errorf("hardlink target %q outside rootfs", hdr.Linkname)
	}
	trel := rootfsRel(target)
	if x.skipped[trel] {
		return hdr, fmt.Errorf("hardlink target %q is excluded by the path whitelist", hdr.Linkname)
	}
	h := *hdr
	h.Linkname = trel
	return &h, nil
}

func (x *extractor) allowed(rel string, isDir bool) bool {
	for _, w := range x.cfg.filters {
		if !w.allows(rel, isDir) {
			return false
		}
	}
	return true
}

// whitelist is one image's pathWhitelist, as rootfs-relative paths.
type whitelist struct {
	paths   map[string]bool
	parents map[string]bool // directories above a listed path
}

func newWhitelist(list []string) whitelist {
	w := whitelist{paths: map[string]bool{}, parents: map[string]bool{"": true}}
	for _, p := range list {
		rel := strings.TrimPrefix(path.Clean("/"+p), "/")
		w.paths[rel] = true
		for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
			w.parents[d] = true
		}
	}
	return w
}

func (w whitelist) allows(rel string, isDir bool) bool {
	return w.paths[rel] || (isDir && w.parents[rel])
}
