package aci

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestValidatePathLimits(t *testing.T) {
	deep := func(inRoot int) string { // a rootfs path of inRoot bytes, "/" included
		return "rootfs" + strings.Repeat("/d", inRoot/2) + strings.Repeat("x", inRoot%2)
	}
	for _, tc := range []struct {
		desc  string
		entry tarEntry
		want  string // "" accepted
	}{
		{"path of 4095 bytes", tarEntry{name: deep(4095), typ: tar.TypeReg}, ""},
		{"path of 4096 bytes", tarEntry{name: deep(4096), typ: tar.TypeReg}, "beyond PATH_MAX (4095)"},
		{"directory path of 5000 bytes", tarEntry{name: deep(5000) + "/", typ: tar.TypeDir}, "beyond PATH_MAX"},
		{"name of 255 bytes", tarEntry{name: "rootfs/" + strings.Repeat("n", 255), typ: tar.TypeReg}, ""},
		{"name of 256 bytes", tarEntry{name: "rootfs/" + strings.Repeat("n", 256), typ: tar.TypeReg}, "beyond NAME_MAX (255)"},
		{"symlink target of 4095 bytes", tarEntry{name: "rootfs/l", typ: tar.TypeSymlink, linkname: strings.Repeat("t", 4095)}, ""},
		{"symlink target of 4096 bytes", tarEntry{name: "rootfs/l", typ: tar.TypeSymlink, linkname: strings.Repeat("t", 4096)}, "target is 4096 bytes long"},
	} {
		_, err := Validate(bytes.NewReader(craftPAXTar(t, manifestEntry("example.com/a"), rootfsEntry(), tc.entry)))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.desc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.desc, err, tc.want)
		case err != nil && len(err.Error()) > 300:
			t.Errorf("%s: error of %d bytes: the name is not clipped", tc.desc, len(err.Error()))
		}
	}
}

// craftPAXTar is craftTar in the PAX format, for names beyond ustar's.
func craftPAXTar(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.linkname, Mode: 0o644, Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		must(t, tw.WriteHeader(hdr))
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	must(t, tw.Close())
	return buf.Bytes()
}

func TestValidateMaxSize(t *testing.T) {
	body := strings.Repeat("z", 64<<10)
	data := gzipped(t, craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
		tarEntry{name: "rootfs/a", typ: tar.TypeReg, body: body}, tarEntry{name: "rootfs/b", typ: tar.TypeReg, body: body}))
	if _, err := ValidateWith(bytes.NewReader(data), ValidateOptions{MaxSize: 1 << 20}); err != nil {
		t.Fatalf("an image within its bound: %v", err)
	}
	_, err := ValidateWith(bytes.NewReader(data), ValidateOptions{MaxSize: 100 << 10})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "expands to more than 100KiB") {
		t.Fatalf("an image beyond its bound: %v, want ErrTooLarge", err)
	}
	// Data after the end of the archive counts too: it is stored.
	tail := gzipped(t, append(craftTar(t, manifestEntry("example.com/a"), rootfsEntry()), make([]byte, 1<<20)...))
	if _, err := ValidateWith(bytes.NewReader(tail), ValidateOptions{MaxSize: 512 << 10}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("trailing zeros beyond the bound: %v, want ErrTooLarge", err)
	}
}

func TestSizeString(t *testing.T) {
	for n, want := range map[int64]string{DefaultMaxSize: "64GiB", 4 << 20: "4MiB", 1536: "1536 bytes", 3 << 50: "3PiB"} {
		if got := SizeString(n); got != want {
			t.Errorf("SizeString(%d) = %q, want %q", n, got, want)
		}
	}
}
