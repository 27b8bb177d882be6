package untar

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// capSetuid is a security.capability value (VFS_CAP_REVISION_2) granting
// cap_setuid+ep: a file that carries it is as good as setuid root.
var capSetuid = string([]byte{0x01, 0x00, 0x00, 0x02, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

// extractSpecial writes setuid, setgid, device, hard-link and xattr
// entries into a Tree with opts and returns its root.
func extractSpecial(t *testing.T, opts Options) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	x, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	mt := time.Unix(1e9, 0)
	for _, e := range []struct {
		rel string
		hdr tar.Header
	}{
		{"dev", tar.Header{Typeflag: tar.TypeDir, Mode: 0o755}},
		{"dev/null", tar.Header{Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}},
		{"dev/loop", tar.Header{Typeflag: tar.TypeBlock, Mode: 0o666, Devmajor: 7, Devminor: 0}},
		{"dev/null2", tar.Header{Typeflag: tar.TypeLink, Linkname: "dev/null"}},
		{"fifo", tar.Header{Typeflag: tar.TypeFifo, Mode: 0o4644}},
		{"suid", tar.Header{Typeflag: tar.TypeReg, Mode: 0o6755}},
		{"suid2", tar.Header{Typeflag: tar.TypeLink, Linkname: "suid"}},
		{"capfile", tar.Header{Typeflag: tar.TypeReg, Mode: 0o755, PAXRecords: map[string]string{
			paxXattrPrefix + "security.capability": capSetuid, paxXattrPrefix + "user.note": "kept"}}},
		{"sgiddir", tar.Header{Typeflag: tar.TypeDir, Mode: 0o2775}},
	} {
		hdr := e.hdr
		hdr.Name, hdr.ModTime = e.rel, mt
		if err := x.Entry(e.rel, &hdr, strings.NewReader("")); err != nil {
			t.Fatalf("%s: %v", e.rel, err)
		}
	}
	if err := x.Finish(); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestHostSafe(t *testing.T) {
	root := extractSpecial(t, Options{HostSafe: true})
	for _, dev := range []string{"dev/null", "dev/loop", "dev/null2"} {
		if fi, err := os.Lstat(filepath.Join(root, dev)); err == nil {
			t.Errorf("%s made as %v", dev, fi.Mode())
		}
	}
	for f, want := range map[string]os.FileMode{"suid": 0o755, "suid2": 0o755, "fifo": os.ModeNamedPipe | 0o644,
		"sgiddir": os.ModeDir | os.ModeSetgid | 0o775} {
		if fi, err := os.Lstat(filepath.Join(root, f)); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, %v; want mode %v", f, fi.Mode(), err, want)
		}
	}
	capfile := filepath.Join(root, "capfile")
	if _, err := unix.Getxattr(capfile, "security.capability", make([]byte, 64)); err != unix.ENODATA {
		t.Errorf("security.capability restored (%v): the file grants cap_setuid", err)
	}
	buf := make([]byte, 16)
	if n, err := unix.Getxattr(capfile, "user.note", buf); err != nil || string(buf[:n]) != "kept" {
		t.Errorf("user.note: %q, %v; want it kept", buf[:n], err)
	}

	// Without HostSafe (the store's own trees) everything stays.
	root = extractSpecial(t, Options{})
	if fi, err := os.Lstat(filepath.Join(root, "dev/null2")); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("dev/null2 without HostSafe: %v, %v", fi, err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "suid")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("suid without HostSafe: %v, %v", fi, err)
	}
	if _, err := unix.Getxattr(filepath.Join(root, "capfile"), "security.capability", make([]byte, 64)); err != nil {
		t.Errorf("security.capability without HostSafe: %v", err)
	}
}

// A device that replaces an earlier layer's file takes the file away,
// even though it is not made.
func TestHostSafeDeviceReplacesLayer(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	for i, hdr := range []tar.Header{
		{Name: "x", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "x", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
	} {
		x, err := Open(root, Options{Overwrite: true, HostSafe: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Entry("x", &hdr, strings.NewReader("")); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		if err := x.Finish(); err != nil {
			t.Fatal(err)
		}
		x.Close()
	}
	if fi, err := os.Lstat(filepath.Join(root, "x")); err == nil {
		t.Errorf("x is still there: %v", fi.Mode())
	}
}
