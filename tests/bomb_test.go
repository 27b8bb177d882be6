package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// Hostile archives that expand beyond what the store may hold, or hold
// paths no tree can, are refused at fetch with nothing stored.

// sparseACI is an ACI of about 10 KiB whose one file, a sparse file in
// a PAX archive made by GNU tar, expands to 100 GiB of zeros.
func sparseACI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest"), []byte(minimalManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(mustCreate(t, filepath.Join(dir, "rootfs", "big")), 100<<30); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sparse.aci")
	if b, err := exec.Command("tar", "--posix", "--sparse", "-C", dir, "-cf", out, "manifest", "rootfs").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, b)
	}
	return out
}

func mustCreate(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// zerosACI is a gzip ACI holding a file of n zero bytes: a few KiB that
// expand to n.
func zerosACI(t *testing.T, n int) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range []*tar.Header{
		{Name: "manifest", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(minimalManifest))},
		{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "rootfs/zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(n)},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case "manifest":
			tw.Write([]byte(minimalManifest))
		case "rootfs/zeros":
			tw.Write(make([]byte, n))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return writeTemp(t, "zeros.aci", buf.Bytes())
}

// The default bound, 64 GiB, stops a 10 KiB archive of 100 GiB before
// anything is stored (a render would have written every zero).
func TestFetchRefusesSparseBomb(t *testing.T) {
	e := newEnv(t)
	before := e.storeState()
	r := e.failSaturn("expands to more than 64GiB", "fetch", "--insecure-options=image", sparseACI(t))
	if !strings.Contains(r.Stderr, "--max-image-size") {
		t.Errorf("the error does not say how to raise the limit:\n%s", r)
	}
	if after := e.storeState(); after != before {
		t.Errorf("a refused image changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// --max-image-size and the store config kind set the bound.
func TestMaxImageSize(t *testing.T) {
	e := newEnv(t)
	bomb := zerosACI(t, 8<<20)
	// run refuses it before a pod is made (its stage1 is stored first).
	e.failSaturn("expands to more than 4MiB", "run", "--insecure-options=image", "--net=none", "--max-image-size=4MiB", bomb)
	if pods := podDirs(t, e); len(pods) != 0 {
		t.Errorf("a refused run left %v", pods)
	}
	before := e.storeState()
	e.failSaturn("expands to more than 4MiB", "fetch", "--insecure-options=image", "--max-image-size=4MiB", bomb)
	writeConfig(t, e.LocalConfig, "store.d/limits.json", `{"rktKind":"store","rktVersion":"v1","max-image-size":"2MiB"}`)
	e.failSaturn("expands to more than 2MiB", "fetch", "--insecure-options=image", bomb)
	if after := e.storeState(); after != before {
		t.Errorf("a refused image changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The flag beats the configuration.
	e.mustSaturn("fetch", "--insecure-options=image", "--max-image-size=16M", bomb)
	e.failSaturn("invalid size", "fetch", "--insecure-options=image", "--max-image-size=16X", bomb)
}

// deepACI is an ACI holding a chain of depth directories named "d".
func deepACI(t *testing.T, depth int) string {
	t.Helper()
	entries := []tarEntry{
		{hdr: tar.Header{Name: "manifest", Typeflag: tar.TypeReg}, body: minimalManifest},
		{hdr: tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755}},
	}
	name := "rootfs"
	for range depth {
		name += "/d"
		entries = append(entries, tarEntry{hdr: tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX}})
	}
	entries = append(entries, tarEntry{hdr: tar.Header{Name: name + "/f", Typeflag: tar.TypeReg, Format: tar.FormatPAX}, body: "deep\n"})
	return rawACI(t, entries)
}

func TestFetchRefusesPathsBeyondPathMax(t *testing.T) {
	e := newEnv(t)
	before := e.storeState()
	// 2100 levels: "/d" 2100 times is 4200 bytes, which no tree can hold.
	e.failSaturn("beyond PATH_MAX (4095)", "fetch", "--insecure-options=image", deepACI(t, 2100))
	long := rawACI(t, []tarEntry{
		{hdr: tar.Header{Name: "manifest", Typeflag: tar.TypeReg}, body: minimalManifest},
		{hdr: tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755}},
		{hdr: tar.Header{Name: "rootfs/" + strings.Repeat("n", 256), Typeflag: tar.TypeReg, Format: tar.FormatPAX}, body: "x"},
	})
	e.failSaturn("beyond NAME_MAX (255)", "fetch", "--insecure-options=image", long)
	if after := e.storeState(); after != before {
		t.Errorf("a refused image changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Deep but within PATH_MAX: stored and rendered.
	img := deepACI(t, 1500)
	e.mustSaturn("fetch", "--insecure-options=image", img)
	out := filepath.Join(t.TempDir(), "rendered")
	e.mustSaturn("image", "render", "example.com/raw", out)
	b, err := os.ReadFile(filepath.Join(out, "rootfs", strings.Repeat("d/", 1500)+"f"))
	if err != nil || string(b) != "deep\n" {
		t.Errorf("the deepest file rendered as %q, %v", b, err)
	}
}

// A pod manifest has the bound of image manifests, 16 MiB: a bigger one
// is refused before a pod is made.
func TestPodManifestSizeCap(t *testing.T) {
	e := newEnv(t)
	id := strings.TrimSpace(e.mustSaturn("fetch", "--full", "--insecure-options=image", testimg.TestApp(t, testimg.Options{})))
	pad := strings.Repeat("x", 17<<20)
	pm := `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":"` + id +
		`"}}],"annotations":[{"name":"example.com/pad","value":"` + pad + `"}]}`
	r := e.failSaturn("larger than 16 MiB", "prepare", "--pod-manifest="+writeTemp(t, "pod.json", []byte(pm)))
	if pods := podDirs(t, e); len(pods) != 0 {
		t.Errorf("a refused pod manifest left %v\n%s", pods, r)
	}
}
