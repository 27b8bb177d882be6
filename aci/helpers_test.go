package aci

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// manifestJSON returns a minimal valid image manifest; extra is spliced
// in as further top-level JSON members.
func manifestJSON(name string, extra ...string) string {
	parts := append([]string{
		`"acKind":"ImageManifest"`, `"acVersion":"0.8.11"`, fmt.Sprintf("%q:%q", "name", name),
		`"labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]`,
	}, extra...)
	return "{" + strings.Join(parts, ",") + "}"
}

// fixedTime is the mtime every layout file gets, so trees compare equal.
var fixedTime = time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)

// richLayout writes a layout with every kind of entry an ACI can hold.
func richLayout(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, ManifestName), []byte(manifestJSON(name)), 0o644))
	root := filepath.Join(dir, RootfsName)
	for _, d := range []string{"bin", "etc/conf.d", "dev", "ro", "empty"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(root, "bin/tool"), bytes.Repeat([]byte("tool"), 100000), 0o755))
	must(t, unix.Chmod(filepath.Join(root, "bin/tool"), 0o4755))
	must(t, os.Link(filepath.Join(root, "bin/tool"), filepath.Join(root, "bin/tool2")))
	must(t, os.Symlink("tool", filepath.Join(root, "bin/sh")))
	must(t, os.Symlink("/etc/conf.d", filepath.Join(root, "etc/abs-link")))
	must(t, os.WriteFile(filepath.Join(root, "etc/conf.d/a.conf"), []byte("a=1\n"), 0o640))
	must(t, os.Chown(filepath.Join(root, "etc/conf.d/a.conf"), 1000, 2000))
	must(t, os.WriteFile(filepath.Join(root, "etc/empty"), nil, 0o600))
	must(t, unix.Setxattr(filepath.Join(root, "etc/empty"), "user.saturn", []byte("yes"), 0))
	must(t, unix.Setxattr(filepath.Join(root, "etc/conf.d"), "user.dir", []byte("d"), 0))
	must(t, unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, unix.Mknod(filepath.Join(root, "dev/loop9"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 9))))
	must(t, unix.Mkfifo(filepath.Join(root, "fifo"), 0o600))
	must(t, os.Lchown(filepath.Join(root, "bin/sh"), 5, 6))
	must(t, os.WriteFile(filepath.Join(root, "ro/file"), []byte("x"), 0o444))
	must(t, os.Chmod(filepath.Join(root, "ro"), 0o555))
	must(t, os.Chmod(filepath.Join(root, "etc/conf.d"), 0o2750))
	must(t, os.Chmod(filepath.Join(root, "empty"), 0o1777))
	setAllTimes(t, root)
	return dir
}

func setAllTimes(t *testing.T, root string) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(fixedTime.UnixNano()), unix.NsecToTimespec(fixedTime.UnixNano())}
	var paths []string
	must(t, filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}))
	// Children first, so setting a child does not touch its parent after.
	for i := len(paths) - 1; i >= 0; i-- {
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// snapshot describes every entry below root: type, mode, owner, size,
// content hash, link target, device, mtime, xattrs and which entries share
// an inode.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	must(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d mtime=%d", st.Mode, st.Uid, st.Gid, fi.ModTime().Unix())
		if rel == "." {
			desc = fmt.Sprintf("mode=%o", st.Mode)
		}
		switch fi.Mode().Type() {
		case 0:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			desc += " size=" + fmt.Sprint(len(data)) + " sha=" + hex.EncodeToString(sum[:8])
			if first, ok := inodes[st.Ino]; ok {
				desc += " linked-to=" + first
			} else if st.Nlink > 1 {
				inodes[st.Ino] = rel
			}
		case fs.ModeSymlink:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
			desc += fmt.Sprintf(" dev=%d,%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if fi.Mode().Type() != fs.ModeSymlink {
			desc += xattrDesc(p)
		}
		out[rel] = desc
		return nil
	}))
	return out
}

func xattrDesc(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	names := splitNul(buf[:n])
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		val := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, " xattr:%s=%q", name, val[:m])
	}
	return b.String()
}

func compareTrees(t *testing.T, want, got map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("missing %s (%s)", k, w)
		} else if g != w {
			t.Errorf("%s:\n got %s\nwant %s", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s (%s)", k, g)
		}
	}
}

// tarEntry is one entry of a hand-made archive, for inputs Build would
// never produce.
type tarEntry struct {
	name     string
	typ      byte
	body     string
	linkname string
	mode     int64
}

func craftTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.linkname, Mode: mode, ModTime: fixedTime}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// manifestEntry is a valid manifest entry for craftTar.
func manifestEntry(name string) tarEntry {
	return tarEntry{name: ManifestName, typ: tar.TypeReg, body: manifestJSON(name)}
}

func rootfsEntry() tarEntry {
	return tarEntry{name: "rootfs/", typ: tar.TypeDir, mode: 0o755}
}

func buildBytes(t testing.TB, dir string, c Compression) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Build(dir, &buf, c); err != nil {
		t.Fatalf("Build %s: %v", dir, err)
	}
	return buf.Bytes()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
