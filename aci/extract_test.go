package aci

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestBuildExtractRoundTrip(t *testing.T) {
	dir := richLayout(t, "example.com/rich")
	want := snapshot(t, filepath.Join(dir, RootfsName))
	for _, c := range []Compression{NoCompression, Gzip, Bzip2, Xz} {
		t.Run(c.String(), func(t *testing.T) {
			plain, _, err := Decompress(bytes.NewReader(buildBytes(t, dir, c)))
			must(t, err)
			defer plain.Close()
			dest := filepath.Join(t.TempDir(), "out")
			must(t, Extract(plain, dest, ExtractOptions{}))
			compareTrees(t, want, snapshot(t, filepath.Join(dest, RootfsName)))
			data, err := os.ReadFile(filepath.Join(dest, ManifestName))
			must(t, err)
			if _, err := ParseManifest(data); err != nil {
				t.Errorf("extracted manifest: %v", err)
			}
		})
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	dir := richLayout(t, "example.com/rich")
	first := buildBytes(t, dir, NoCompression)
	if !bytes.Equal(first, buildBytes(t, dir, NoCompression)) {
		t.Fatal("two builds of the same tree differ")
	}
	// A copy made by extracting is the same tree, so the same image.
	dest := t.TempDir()
	must(t, Extract(bytes.NewReader(first), dest, ExtractOptions{}))
	setAllTimes(t, dest)
	must(t, os.Chtimes(filepath.Join(dest, ManifestName), fixedTime, fixedTime))
	must(t, os.Chtimes(filepath.Join(dir, ManifestName), fixedTime, fixedTime))
	a, err := ImageID(bytes.NewReader(buildBytes(t, dir, NoCompression)))
	must(t, err)
	b, err := ImageID(bytes.NewReader(buildBytes(t, dest, NoCompression)))
	must(t, err)
	if a != b {
		t.Errorf("image ids differ for identical trees: %s vs %s", a, b)
	}
}

func TestBuildRejectsBadLayouts(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(dir string) error
		wantErr string
	}{
		{"no manifest", func(dir string) error { return os.Mkdir(filepath.Join(dir, "rootfs"), 0o755) }, "read image manifest"},
		{"bad manifest", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "manifest"), []byte(`{"acKind":"ImageManifest"}`), 0o644)
		}, "invalid image manifest"},
		{"no rootfs", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "manifest"), []byte(manifestJSON("example.com/a")), 0o644)
		}, "rootfs"},
		{"rootfs is a file", func(dir string) error {
			if err := os.WriteFile(filepath.Join(dir, "rootfs"), nil, 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "manifest"), []byte(manifestJSON("example.com/a")), 0o644)
		}, "rootfs is not a directory"},
		{"stray file", func(dir string) error {
			if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "README"), nil, 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "manifest"), []byte(manifestJSON("example.com/a")), 0o644)
		}, `unexpected entry "README"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			must(t, tt.setup(dir))
			var buf bytes.Buffer
			err := Build(dir, &buf, Gzip)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Build error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// escapeSetup makes dest inside a fresh directory next to a directory
// "outside" that no extraction may touch.
func escapeSetup(t *testing.T) (dest, outside string) {
	base := t.TempDir()
	outside = filepath.Join(base, "outside")
	must(t, os.Mkdir(outside, 0o755))
	return filepath.Join(base, "dest"), outside
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range ents {
		t.Errorf("extraction escaped: %s/%s exists", dir, e.Name())
	}
}

func TestExtractCannotEscape(t *testing.T) {
	tests := []struct {
		name string
		// entries after manifest and rootfs/; OUTSIDE is replaced by the
		// path of the forbidden directory without its leading slash.
		entries []tarEntry
		// where the payload must land instead, relative to dest/rootfs
		// ("" if the archive must be rejected)
		landsAt string
		// mirror first creates the directory OUTSIDE inside the rootfs,
		// so symlinks to it resolve there.
		mirror bool
	}{
		{"absolute symlink then write through it", []tarEntry{
			{name: "rootfs/x", typ: tar.TypeSymlink, linkname: "/OUTSIDE"},
			{name: "rootfs/x/payload", typ: tar.TypeReg, body: "pwned"},
		}, "OUTSIDE/payload", true},
		{"climbing symlink then write through it", []tarEntry{
			{name: "rootfs/x", typ: tar.TypeSymlink, linkname: "../../../../../../../../OUTSIDE"},
			{name: "rootfs/x/payload", typ: tar.TypeReg, body: "pwned"},
		}, "OUTSIDE/payload", true},
		{"symlink chain", []tarEntry{
			{name: "rootfs/a", typ: tar.TypeSymlink, linkname: "b/../.."},
			{name: "rootfs/b/", typ: tar.TypeDir},
			{name: "rootfs/c", typ: tar.TypeSymlink, linkname: "a/a/a/OUTSIDE"},
			{name: "rootfs/c/payload", typ: tar.TypeReg, body: "pwned"},
		}, "OUTSIDE/payload", true},
		{"symlink then directory through it", []tarEntry{
			{name: "rootfs/x", typ: tar.TypeSymlink, linkname: "/OUTSIDE"},
			{name: "rootfs/x/sub/", typ: tar.TypeDir, mode: 0o777},
			{name: "rootfs/x/sub/payload", typ: tar.TypeReg, body: "pwned"},
		}, "OUTSIDE/sub/payload", true},
		{"symlink then hardlink through it", []tarEntry{
			{name: "rootfs/f", typ: tar.TypeReg, body: "pwned"},
			{name: "rootfs/x", typ: tar.TypeSymlink, linkname: "/OUTSIDE"},
			{name: "rootfs/x/payload", typ: tar.TypeLink, linkname: "rootfs/f"},
		}, "OUTSIDE/payload", true},
		{"symlink then symlink through it", []tarEntry{
			{name: "rootfs/x", typ: tar.TypeSymlink, linkname: "/OUTSIDE"},
			{name: "rootfs/x/payload", typ: tar.TypeSymlink, linkname: "/etc/passwd"},
		}, "OUTSIDE/payload", true},
		{"dangling absolute symlink then write through it", []tarEntry{
			{name: "rootfs/x", typ: tar.TypeSymlink, linkname: "/OUTSIDE"},
			{name: "rootfs/x/payload", typ: tar.TypeReg, body: "pwned"},
		}, "", false},
		{"dangling climbing symlink then directory through it", []tarEntry{
			{name: "rootfs/x", typ: tar.TypeSymlink, linkname: "../../../../../../OUTSIDE"},
			{name: "rootfs/x/d/", typ: tar.TypeDir},
		}, "", false},
		{"hardlink to a host file through a symlink", []tarEntry{
			{name: "rootfs/x", typ: tar.TypeSymlink, linkname: "/OUTSIDE"},
			{name: "rootfs/payload", typ: tar.TypeLink, linkname: "rootfs/x/secret"},
		}, "", false},
		{"dot-dot name", []tarEntry{{name: "rootfs/../../outside/payload", typ: tar.TypeReg, body: "pwned"}}, "", false},
		{"absolute name", []tarEntry{{name: "/OUTSIDE/payload", typ: tar.TypeReg, body: "pwned"}}, "", false},
		{"hardlink dot-dot", []tarEntry{{name: "rootfs/payload", typ: tar.TypeLink, linkname: "../outside/secret"}}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest, outside := escapeSetup(t)
			must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600))
			entries := []tarEntry{manifestEntry("example.com/evil"), rootfsEntry()}
			rel := strings.TrimPrefix(outside, "/")
			if tt.mirror {
				entries = append(entries, tarEntry{name: "rootfs/" + rel + "/", typ: tar.TypeDir})
			}
			for _, e := range tt.entries {
				e.name = strings.ReplaceAll(e.name, "OUTSIDE", rel)
				e.linkname = strings.ReplaceAll(e.linkname, "OUTSIDE", rel)
				entries = append(entries, e)
			}
			err := Extract(bytes.NewReader(craftTar(t, entries...)), dest, ExtractOptions{})
			// Nothing but the pre-made secret may exist outside.
			ents, rerr := os.ReadDir(outside)
			must(t, rerr)
			if len(ents) != 1 {
				t.Errorf("extraction escaped: %d entries in the outside directory", len(ents))
			}
			if tt.landsAt == "" {
				if err == nil {
					t.Error("Extract accepted the archive")
				}
				return
			}
			must(t, err)
			p := filepath.Join(dest, RootfsName, strings.ReplaceAll(tt.landsAt, "OUTSIDE", rel))
			if _, err := os.Lstat(p); err != nil {
				t.Errorf("payload did not land inside the rootfs: %v", err)
			}
		})
	}
}

func TestExtractExistingEntries(t *testing.T) {
	first := craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
		tarEntry{name: "rootfs/lib", typ: tar.TypeSymlink, linkname: "usr/lib"},
		tarEntry{name: "rootfs/usr/lib/", typ: tar.TypeDir},
		tarEntry{name: "rootfs/usr/lib/old", typ: tar.TypeReg, body: "old"},
		tarEntry{name: "rootfs/file", typ: tar.TypeReg, body: "v1"},
		tarEntry{name: "rootfs/dir/", typ: tar.TypeDir},
		tarEntry{name: "rootfs/dir/inner", typ: tar.TypeReg, body: "inner"})
	second := craftTar(t, manifestEntry("example.com/b"), rootfsEntry(),
		tarEntry{name: "rootfs/lib/", typ: tar.TypeDir},
		tarEntry{name: "rootfs/lib/new", typ: tar.TypeReg, body: "new"},
		tarEntry{name: "rootfs/file", typ: tar.TypeReg, body: "v2"},
		tarEntry{name: "rootfs/dir", typ: tar.TypeSymlink, linkname: "/nowhere"})

	dest := t.TempDir()
	must(t, Extract(bytes.NewReader(first), dest, ExtractOptions{}))
	err := Extract(bytes.NewReader(second), dest, ExtractOptions{})
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second extraction without Overwrite: error %v, want one about an existing entry", err)
	}

	dest = t.TempDir()
	must(t, Extract(bytes.NewReader(first), dest, ExtractOptions{}))
	must(t, Extract(bytes.NewReader(second), dest, ExtractOptions{Overwrite: true}))
	root := filepath.Join(dest, RootfsName)
	// The symlink lib was replaced by a directory, not followed.
	if fi, err := os.Lstat(filepath.Join(root, "lib")); err != nil || !fi.IsDir() {
		t.Errorf("lib is not a directory: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/lib/new")); err == nil {
		t.Error("new file was written through the old symlink")
	}
	checkFile(t, filepath.Join(root, "lib/new"), "new")
	checkFile(t, filepath.Join(root, "usr/lib/old"), "old")
	checkFile(t, filepath.Join(root, "file"), "v2")
	checkFile(t, filepath.Join(dest, ManifestName), manifestJSON("example.com/b"))
	if target, err := os.Readlink(filepath.Join(root, "dir")); err != nil || target != "/nowhere" {
		t.Errorf("dir was not replaced by the symlink: %q %v", target, err)
	}
}

func checkFile(t *testing.T, p, want string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Error(err)
		return
	}
	if string(data) != want {
		t.Errorf("%s = %q, want %q", p, data, want)
	}
}

func TestExtractWhitelistAndRootfsOnly(t *testing.T) {
	data := craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
		tarEntry{name: "rootfs/bin/", typ: tar.TypeDir, mode: 0o711},
		tarEntry{name: "rootfs/bin/keep", typ: tar.TypeReg, body: "k"},
		tarEntry{name: "rootfs/bin/drop", typ: tar.TypeReg, body: "d"},
		tarEntry{name: "rootfs/bin/link", typ: tar.TypeLink, linkname: "rootfs/bin/keep"},
		tarEntry{name: "rootfs/etc/", typ: tar.TypeDir},
		tarEntry{name: "rootfs/etc/hosts", typ: tar.TypeReg, body: "h"},
		tarEntry{name: "rootfs/var/", typ: tar.TypeDir})
	dest := t.TempDir()
	must(t, Extract(bytes.NewReader(data), dest, ExtractOptions{
		RootfsOnly:    true,
		PathWhitelist: []string{"/bin/keep", "/bin/link", "/var/"},
	}))
	var got []string
	must(t, filepath.WalkDir(dest, func(p string, _ os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dest, p)
		got = append(got, rel)
		return err
	}))
	want := ".,bin,bin/keep,bin/link,var"
	if strings.Join(got, ",") != want {
		t.Errorf("extracted %v, want %s", got, want)
	}
	if fi, err := os.Stat(filepath.Join(dest, "bin")); err != nil || fi.Mode().Perm() != 0o711 {
		t.Errorf("bin: %v %v, want mode 0711", fi, err)
	}

	// A hardlink to a file the whitelist dropped cannot be made.
	err := Extract(bytes.NewReader(data), t.TempDir(), ExtractOptions{PathWhitelist: []string{"/bin/link"}})
	if err == nil || !strings.Contains(err.Error(), "excluded by the path whitelist") {
		t.Errorf("hardlink to a dropped file: error %v", err)
	}
}

func TestExtractRejectsBadArchives(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"truncated", craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
			tarEntry{name: "rootfs/f", typ: tar.TypeReg, body: strings.Repeat("z", 4000)})[:2000], "truncated"},
		{"file as parent", craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
			tarEntry{name: "rootfs/f", typ: tar.TypeReg, body: "f"},
			tarEntry{name: "rootfs/f/g", typ: tar.TypeReg, body: "g"}), "not a directory"},
		{"hardlink to missing", craftTar(t, manifestEntry("example.com/a"), rootfsEntry(),
			tarEntry{name: "rootfs/h", typ: tar.TypeLink, linkname: "rootfs/missing"}), "not extracted yet"},
		{"outside entry", craftTar(t, tarEntry{name: "etc/passwd", typ: tar.TypeReg, body: "x"}), "outside manifest and rootfs/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Extract(bytes.NewReader(tt.data), t.TempDir(), ExtractOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// Replacing entries and linking across many directories must not disturb
// the descriptors of the directories being written into.
func TestExtractNestedReplaceAndManyDirs(t *testing.T) {
	entries := []tarEntry{manifestEntry("example.com/a"), rootfsEntry(),
		{name: "rootfs/a/b/lib", typ: tar.TypeSymlink, linkname: "/usr/lib"},
		{name: "rootfs/a/b/file", typ: tar.TypeReg, body: "v1"},
		{name: "rootfs/a/b/lib/", typ: tar.TypeDir},
		{name: "rootfs/a/b/lib/x", typ: tar.TypeReg, body: "x"},
		{name: "rootfs/a/b/file", typ: tar.TypeReg, body: "v2"},
		{name: "rootfs/first/target", typ: tar.TypeReg, body: "t"},
	}
	const manyDirs = 3 * 128 // three times untar's directory cache
	for i := range manyDirs {
		entries = append(entries, tarEntry{name: fmt.Sprintf("rootfs/d%03d/link", i), typ: tar.TypeLink, linkname: "rootfs/first/target"})
	}
	dest := t.TempDir()
	must(t, Extract(bytes.NewReader(craftTar(t, entries...)), dest, ExtractOptions{Overwrite: true}))
	root := filepath.Join(dest, RootfsName)
	checkFile(t, filepath.Join(root, "a/b/lib/x"), "x")
	checkFile(t, filepath.Join(root, "a/b/file"), "v2")
	fi, err := os.Stat(filepath.Join(root, "first/target"))
	must(t, err)
	if n := fi.Sys().(*syscall.Stat_t).Nlink; n != 1+manyDirs {
		t.Errorf("target has %d links, want %d", n, 1+manyDirs)
	}
}
