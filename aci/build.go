package aci

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/appc/spec/schema"
	"golang.org/x/sys/unix"
)

// Names of the two top-level entries of an ACI.
const (
	ManifestName = "manifest"
	RootfsName   = "rootfs"
)

// Build writes an ACI of dir, which must hold exactly a valid image
// manifest file `manifest` and a directory `rootfs`, to w. Entries are
// written in sorted order (manifest first), so the same tree always gives
// the same tar and hence the same image id.
func Build(dir string, w io.Writer, c Compression) error {
	im, err := readLayoutManifest(dir)
	if err != nil {
		return err
	}
	if err := checkLayout(dir); err != nil {
		return err
	}
	cw, err := compressWriter(w, c)
	if err != nil {
		return err
	}
	b := &builder{tw: tar.NewWriter(cw), root: dir, links: map[devIno]string{}}
	if err := b.addManifest(im); err != nil {
		return err
	}
	if err := b.walk(RootfsName); err != nil {
		return err
	}
	if err := b.tw.Close(); err != nil {
		return fmt.Errorf("finish tar: %w", err)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("finish %v stream: %w", c, err)
	}
	return nil
}

func readLayoutManifest(dir string) (*schema.ImageManifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("read image manifest: %w", err)
	}
	im, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	return im, nil
}

// checkLayout rejects stray top-level files: an ACI holds nothing but the
// manifest and the rootfs.
func checkLayout(dir string) error {
	fi, err := os.Lstat(filepath.Join(dir, RootfsName))
	if err != nil {
		return fmt.Errorf("image layout %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("image layout %s: rootfs is not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("image layout %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.Name() != ManifestName && e.Name() != RootfsName {
			return fmt.Errorf("image layout %s: unexpected entry %q (only manifest and rootfs allowed)", dir, e.Name())
		}
	}
	return nil
}

type devIno struct{ dev, ino uint64 }

type builder struct {
	tw    *tar.Writer
	root  string
	links map[devIno]string // first archive name seen for a multiply-linked file
	buf   []byte
}

func (b *builder) addManifest(im *schema.ImageManifest) error {
	// The manifest is written normalised, as appc's actool does, so both
	// tools produce the same manifest bytes for the same input.
	data, err := im.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode image manifest: %w", err)
	}
	fi, err := os.Stat(filepath.Join(b.root, ManifestName))
	if err != nil {
		return fmt.Errorf("stat manifest: %w", err)
	}
	hdr := &tar.Header{
		Name:     ManifestName,
		Typeflag: tar.TypeReg,
		Mode:     0o644,
		Size:     int64(len(data)),
		ModTime:  fi.ModTime().Truncate(time.Second),
		Format:   tar.FormatPAX,
	}
	if err := b.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write manifest header: %w", err)
	}
	if _, err := b.tw.Write(data); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// walk adds rel (a path relative to the layout root) and, for a
// directory, everything below it in sorted order.
func (b *builder) walk(rel string) error {
	full := filepath.Join(b.root, rel)
	fi, err := os.Lstat(full)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil // sockets cannot live in a tar; actool skips them too
	}
	if err := b.add(rel, full, fi); err != nil {
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	names, err := readDirNames(full)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	for _, n := range names {
		if err := b.walk(path.Join(rel, n)); err != nil {
			return err
		}
	}
	return nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", dir, err)
	}
	sort.Strings(names)
	return names, nil
}

func (b *builder) add(rel, full string, fi fs.FileInfo) error {
	hdr, err := b.header(rel, full, fi)
	if err != nil {
		return err
	}
	if err := b.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write header %s: %w", rel, err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	return b.copyFile(rel, full, hdr.Size)
}

func (b *builder) copyFile(rel, full string, size int64) error {
	f, err := os.Open(full)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer f.Close()
	if b.buf == nil {
		b.buf = make([]byte, readBufSize)
	}
	n, err := io.CopyBuffer(b.tw, io.LimitReader(f, size), b.buf)
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if n != size {
		return fmt.Errorf("write %s: file shrank while building (%d of %d bytes)", rel, n, size)
	}
	return nil
}

// header describes one file. It uses numeric ids only and no user or
// group names, so the archive does not depend on the build host's
// passwd database.
func (b *builder) header(rel, full string, fi fs.FileInfo) (*tar.Header, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("build %s: no stat information", rel)
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: fi.ModTime().Truncate(time.Second),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		key := devIno{uint64(st.Dev), st.Ino}
		if first, seen := b.links[key]; seen && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
		} else {
			if st.Nlink > 1 {
				b.links[key] = rel
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		}
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
	case unix.S_IFLNK:
		target, err := os.Readlink(full)
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, fmt.Errorf("build %s: unsupported file type %v", rel, fi.Mode().Type())
	}
	xattrs, err := readXattrs(full)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", rel, err)
	}
	if len(xattrs) > 0 {
		hdr.PAXRecords = xattrs
	}
	return hdr, nil
}

// selinuxXattr is left out of images: a label belongs to the build host's
// policy, and restoring it elsewhere fails or mislabels the file.
const selinuxXattr = "security.selinux"

// paxXattrPrefix is how GNU tar, bsdtar and Go store extended attributes.
const paxXattrPrefix = "SCHILY.xattr."

func readXattrs(p string) (map[string]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if err != nil || size == 0 {
		if err == unix.ENOTSUP {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs: %w", err)
		}
		return nil, nil
	}
	list := make([]byte, size)
	size, err = unix.Llistxattr(p, list)
	if err != nil {
		return nil, fmt.Errorf("list xattrs: %w", err)
	}
	out := map[string]string{}
	for _, name := range splitNul(list[:size]) {
		if name == selinuxXattr {
			continue
		}
		val, err := getXattr(p, name)
		if err != nil {
			return nil, err
		}
		out[paxXattrPrefix+name] = string(val)
	}
	return out, nil
}

func getXattr(p, name string) ([]byte, error) {
	size, err := unix.Lgetxattr(p, name, nil)
	if err != nil {
		return nil, fmt.Errorf("get xattr %s: %w", name, err)
	}
	val := make([]byte, size)
	size, err = unix.Lgetxattr(p, name, val)
	if err != nil {
		return nil, fmt.Errorf("get xattr %s: %w", name, err)
	}
	return val[:size], nil
}

func splitNul(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}
