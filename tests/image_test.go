package tests

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/appc/spec/schema"

	"github.com/saturn-pods/saturn/store"
	"github.com/saturn-pods/saturn/tests/testimg"
)

func sha512Sum(data []byte) []byte {
	s := sha512.Sum512(data)
	return s[:]
}

// canonicalManifest re-encodes a manifest so equal manifests compare equal
// whatever their formatting.
func canonicalManifest(t *testing.T, data []byte) []byte {
	t.Helper()
	var m schema.ImageManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	out, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// listedIDs returns the full ids image list prints, in its order.
func (e *env) listedIDs(flags ...string) []string {
	e.t.Helper()
	args := append([]string{"image", "list", "--no-legend", "--full", "--fields=id"}, flags...)
	return strings.Fields(e.mustSaturn(args...))
}

func TestImageList(t *testing.T) {
	e := newEnv(t)
	bb := e.fetchOne(testimg.Busybox(t, testimg.Options{Version: "1.0.0"}))
	app := e.fetchOne(testimg.TestApp(t, testimg.Options{Version: "2.0.0"}))

	lines := strings.Split(strings.TrimSpace(e.mustSaturn("image", "list")), "\n")
	if len(lines) != 3 {
		t.Fatalf("image list printed %d lines, want a legend and two images:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	// rkt 1.30's columns, in its order.
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "ID NAME SIZE IMPORT TIME LAST USED" {
		t.Errorf("legend = %q", got)
	}
	row := strings.Split(lines[1], "\t")
	var cols []string
	for _, c := range row {
		if c != "" {
			cols = append(cols, c)
		}
	}
	if len(cols) != 5 || cols[0] != bb[:len("sha512-")+12] || cols[1] != "example.com/busybox:1.0.0" {
		t.Errorf("first row = %q, want short id, name:version, size, times", cols)
	}
	if !strings.HasSuffix(cols[3], "ago") && cols[3] != "now" {
		t.Errorf("import time %q is not relative", cols[3])
	}
	// rkt's go-humanize IBytes: "2.0 MiB", a space before the unit.
	if !regexp.MustCompile(`^[0-9]+(\.[0-9])? (B|KiB|MiB)$`).MatchString(cols[2]) {
		t.Errorf("size %q is not formatted as rkt's (\"2.0 MiB\")", cols[2])
	}
	// As rkt: LATEST, when asked for, says whether the image was fetched
	// by name without a version, which a file never is.
	if out := e.mustSaturn("image", "list", "--no-legend", "--fields=id,latest"); !strings.Contains(out, "false") {
		t.Errorf("--fields=id,latest:\n%s", out)
	}

	if ids := e.listedIDs(); strings.Join(ids, " ") != bb+" "+app {
		t.Errorf("list order %q, want import order", ids)
	}
	if ids := e.listedIDs("--sort=name", "--order=desc"); strings.Join(ids, " ") != app+" "+bb {
		t.Errorf("--sort=name --order=desc order %q", ids)
	}
	out := e.mustSaturn("image", "list", "--no-legend", "--fields=name,size", "--full")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) != 2 || strings.Trim(f[1], "0123456789") != "" {
			t.Errorf("--fields=name,size --full line %q, want name and a byte count", l)
		}
	}

	var entries []struct {
		ID           string `json:"id"`
		Name         string `json:"name"`
		ImportTime   int64  `json:"import_time"`
		LastUsedTime int64  `json:"last_used_time"`
		Size         int64  `json:"size"`
	}
	if err := json.Unmarshal([]byte(e.mustSaturn("image", "list", "--format=json")), &entries); err != nil {
		t.Fatalf("--format=json: %v", err)
	}
	blob, err := os.Stat(filepath.Join(e.Dir, "cas", "blobs", bb))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].ID != bb || entries[0].Size != blob.Size() || entries[0].ImportTime == 0 || entries[0].LastUsedTime == 0 {
		t.Errorf("json entries = %+v", entries)
	}
	if pretty := e.mustSaturn("image", "list", "--format=json-pretty"); !strings.Contains(pretty, "\n\t") {
		t.Errorf("json-pretty is not indented:\n%s", pretty)
	}
	r := e.failSaturn("unknown field", "image", "list", "--fields=id,colour")
	if r.Code != 254 {
		t.Errorf("bad --fields exit code %d, want rkt's 254", r.Code)
	}
	e.failSaturn("invalid --format", "image", "list", "--format=yaml")
}

func TestImageRm(t *testing.T) {
	e := newEnv(t)
	bb := e.fetchOne(testimg.Busybox(t, testimg.Options{}))
	app := e.fetchOne(testimg.TestApp(t, testimg.Options{}))
	third := e.fetchOne(testimg.Busybox(t, testimg.Options{Name: "example.com/third"}))

	r := e.saturn("image", "rm", bb[:30], "example.com/testapp")
	// rkt: one line per image on stdout, the count on stderr.
	wantOut := fmt.Sprintf("successfully removed aci for image: %q\nsuccessfully removed aci for image: %q\n", bb, app)
	if r.Code != 0 || r.Stdout != wantOut || !strings.Contains(r.Stderr, "2 image(s) successfully removed") {
		t.Fatalf("image rm of two images: %s\nwant stdout:\n%s", r, wantOut)
	}
	if ids := e.listedIDs(); len(ids) != 1 || ids[0] != third {
		t.Fatalf("after rm the store lists %q, want only %s", ids, third)
	}
	for _, id := range []string{bb, app} {
		if _, err := os.Stat(filepath.Join(e.Dir, "cas", "blobs", id)); !os.IsNotExist(err) {
			t.Errorf("blob of removed image %s still on disk", id)
		}
	}
	// One bad reference makes the command fail, the good one still goes.
	r = e.saturn("image", "rm", "example.com/nonexistent", third)
	if r.Code == 0 || !strings.Contains(r.Stderr, "example.com/nonexistent") || !strings.Contains(r.Stderr, "1 image(s) successfully removed") {
		t.Fatalf("image rm with a bad reference: %s", r)
	}
	if ids := e.listedIDs(); len(ids) != 0 {
		t.Fatalf("store still lists %q", ids)
	}
	e.failSaturn("needs at least one image", "image", "rm")
}

func TestImageGC(t *testing.T) {
	e := newEnv(t)
	used := e.fetchOne(testimg.Busybox(t, testimg.Options{}))
	kept := e.fetchOne(testimg.TestApp(t, testimg.Options{}))
	st, err := store.Open(e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	usedTree, _, err := st.RenderTree(used)
	if err != nil {
		t.Fatal(err)
	}
	keptTree, _, err := st.RenderTree(kept)
	if err != nil {
		t.Fatal(err)
	}
	// Rendering holds the trees against gc until the store is closed.
	st.Close()
	// A pod (any state) that uses keptTree as its stage1 tree.
	pod := filepath.Join(e.Dir, "pods", "exited-garbage", "00000000-0000-0000-0000-000000000001")
	if err := os.MkdirAll(pod, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pod, "stage1TreeStoreID"), []byte(keptTree+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	r := e.saturn("image", "gc")
	if r.Code != 0 || !strings.Contains(r.Stderr, "0 image(s) successfully removed") {
		t.Fatalf("gc within the grace period: %s", r)
	}
	if ids := e.listedIDs(); len(ids) != 2 {
		t.Fatalf("gc within the grace period removed images: %q left", ids)
	}
	r = e.saturn("image", "gc", "--grace-period=0s")
	if r.Code != 0 || !strings.Contains(r.Stderr, "2 image(s) successfully removed") {
		t.Fatalf("gc without grace: %s", r)
	}
	if !strings.Contains(r.Stderr, `removed treestore "`+usedTree+`"`) || strings.Contains(r.Stderr, keptTree) {
		t.Fatalf("gc removed the wrong trees: %s", r)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "tree", keptTree, "rootfs")); err != nil {
		t.Fatalf("tree referenced by a pod was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "tree", usedTree)); !os.IsNotExist(err) {
		t.Fatalf("unreferenced tree still there: %v", err)
	}
	e.failSaturn("must not be negative", "image", "gc", "--grace-period=-1h")
	// Once the pod is gone its tree goes too.
	if err := os.RemoveAll(filepath.Join(e.Dir, "pods")); err != nil {
		t.Fatal(err)
	}
	r = e.saturn("image", "gc", "--grace-period=0s")
	if !strings.Contains(r.Stderr, keptTree) {
		t.Fatalf("gc kept the tree of a removed pod: %s", r)
	}
}

func TestImageExportExtractRender(t *testing.T) {
	e := newEnv(t)
	img := testimg.Busybox(t, testimg.Options{Files: map[string]string{"/etc/motd": "hi\n"}})
	id := e.fetchOne(img)
	tmp := t.TempDir()

	exported := filepath.Join(tmp, "exported.aci")
	e.mustSaturn("image", "export", "example.com/busybox", exported)
	data, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	if got := "sha512-" + hex.EncodeToString(sha512Sum(data)); got != id {
		t.Fatalf("exported file hashes to %s, want the image id %s", got, id)
	}
	e.failSaturn("already exists", "image", "export", id, exported)
	e.mustSaturn("image", "export", "--overwrite", id, exported)
	// An image can be named by the path of its ACI file.
	if got := e.mustSaturn("image", "cat-manifest", "--pretty-print=false", exported); !strings.Contains(got, `"example.com/busybox"`) || strings.Count(strings.TrimSpace(got), "\n") != 0 {
		t.Fatalf("cat-manifest by path, unindented: %q", got)
	}
	// --debug says which image a reference named; without it, nothing.
	r := e.saturn("--debug", "image", "cat-manifest", "example.com/busybox")
	if r.Code != 0 || !strings.Contains(r.Stderr, "image: example.com/busybox is "+id) {
		t.Errorf("cat-manifest --debug: %s", r)
	}
	if r := e.saturn("image", "cat-manifest", "example.com/busybox"); r.Code != 0 || r.Stderr != "" {
		t.Errorf("cat-manifest without --debug wrote to stderr: %s", r)
	}
	pretty := e.mustSaturn("image", "cat-manifest", id[:20])
	var m schema.ImageManifest
	if err := json.Unmarshal([]byte(pretty), &m); err != nil || m.Name != "example.com/busybox" || !strings.Contains(pretty, "\n\t") {
		t.Fatalf("cat-manifest: %v\n%s", err, pretty)
	}

	ext := filepath.Join(tmp, "extracted")
	e.mustSaturn("image", "extract", id, ext)
	for _, p := range []string{"manifest", "rootfs/etc/motd", "rootfs/bin/busybox"} {
		if _, err := os.Stat(filepath.Join(ext, p)); err != nil {
			t.Errorf("extract: %v", err)
		}
	}
	e.failSaturn("already exists", "image", "extract", id, ext)
	e.mustSaturn("image", "extract", "--overwrite", "--rootfs-only", id, ext)
	if _, err := os.Stat(filepath.Join(ext, "etc/motd")); err != nil {
		t.Errorf("extract --rootfs-only: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ext, "manifest")); !os.IsNotExist(err) {
		t.Errorf("extract --rootfs-only --overwrite kept the old manifest")
	}

	ren := filepath.Join(tmp, "rendered")
	e.mustSaturn("image", "render", "--rootfs-only", id, ren)
	motd, err := os.ReadFile(filepath.Join(ren, "etc/motd"))
	if err != nil || string(motd) != "hi\n" {
		t.Errorf("render --rootfs-only: etc/motd = %q, %v", motd, err)
	}
	if a, b := describeTree(t, ren), describeTree(t, ext); a != b {
		t.Errorf("render and extract of a dependency-less image differ:\n%s\n%s", a, b)
	}
	e.failSaturn("already exists", "image", "render", id, ren)
	e.failSaturn("needs an image and an output directory", "image", "render", id)
}

func TestImageCorruptedBlob(t *testing.T) {
	e := newEnv(t)
	img := testimg.Busybox(t, testimg.Options{})
	id := e.fetchOne(img)
	blob := filepath.Join(e.Dir, "cas", "blobs", id)
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x55
	if err := os.WriteFile(blob, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, args := range [][]string{
		{"image", "export", id, filepath.Join(tmp, "out.aci")},
		{"image", "render", id, filepath.Join(tmp, "render")},
		{"image", "extract", id, filepath.Join(tmp, "extract")},
	} {
		r := e.failSaturn("corrupted", args...)
		if !strings.Contains(r.Stderr, id) {
			t.Errorf("%s: error does not name the image:\n%s", args[1], r.Stderr)
		}
		if _, err := os.Stat(args[3]); !os.IsNotExist(err) {
			t.Errorf("%s left output %s behind", args[1], args[3])
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("failed commands left %d temp entries", len(ents))
	}
	// Fetching the image again repairs it.
	e.fetchOne(img)
	e.mustSaturn("image", "export", id, filepath.Join(tmp, "out.aci"))
}

func TestImageExportErrorsNameTheOutput(t *testing.T) {
	e := newEnv(t)
	id := e.fetchOne(testimg.Busybox(t, testimg.Options{}))
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "no-such-dir", "out.aci")
	dir := filepath.Join(tmp, "a-directory")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		out  string
	}{
		{[]string{"image", "export", id, missing}, missing},
		{[]string{"image", "export", "--overwrite", id, dir}, dir},
		{[]string{"image", "extract", id, missing}, missing},
		{[]string{"image", "render", id, missing}, missing},
	} {
		r := e.failSaturn(c.out, c.args...)
		if strings.Contains(r.Stderr, ".saturn-") {
			t.Errorf("%s: error names a temp file instead of the output:\n%s", c.args[1], r.Stderr)
		}
		if n := strings.Count(strings.TrimSpace(r.Stderr), "\n"); n != 0 {
			t.Errorf("%s: error is %d lines, want one:\n%s", c.args[1], n+1, r.Stderr)
		}
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("export --overwrite onto a directory removed it: %v", err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Errorf("failed exports left %d entries in %s, want only the directory", len(ents), tmp)
	}
}

func TestImageListClipsLongNames(t *testing.T) {
	e := newEnv(t)
	long := "example.com/" + strings.Repeat("very-long-name-", 20) + "end"
	id := e.fetchOne(testimg.Busybox(t, testimg.Options{Name: long, Version: strings.Repeat("9", 150)}))
	out := e.mustSaturn("image", "list", "--no-legend", "--fields=name")
	name := strings.TrimSpace(out)
	if !strings.Contains(name, "…") || len([]rune(name)) > 100 || !strings.HasPrefix(name, "example.com/very-long") {
		t.Errorf("image list shows the name unclipped or clipped badly: %q", name)
	}
	want := long + ":" + strings.Repeat("9", 150)
	if full := strings.TrimSpace(e.mustSaturn("image", "list", "--no-legend", "--fields=name", "--full")); full != want {
		t.Errorf("image list --full name = %q, want %q", full, want)
	}
	var entries []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(e.mustSaturn("image", "list", "--format=json")), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name != want || entries[0].ID != id {
		t.Errorf("json keeps everything; got %+v", entries)
	}
	// Unbounded input is not echoed back in errors either.
	huge := "example.com/" + strings.Repeat("x", 5000)
	for _, args := range [][]string{
		{"image", "cat-manifest", huge},
		{"image", "rm", huge},
		{"image", "list", "--fields=" + huge},
		{"fetch", "--pull-policy=never", huge},
		{"image", "verify", "sha512-" + strings.Repeat("q", 5000)},
		{"trust", "--skip-fingerprint-review", "--prefix=" + huge + "/", "/nonexistent.asc"},
		{"trust", "--skip-fingerprint-review", "--prefix=example.com", "/" + strings.Repeat("k", 3000) + ".asc"},
		{"--insecure-options=image", "fetch", "https://127.0.0.1:1/" + strings.Repeat("u", 5000) + ".aci"},
		{"fetch", "--pull-policy=" + huge, "example.com/x"},
	} {
		r := e.saturn(args...)
		if r.Code == 0 {
			t.Fatalf("saturn %s: succeeded: %s", args[:2], r)
		}
		for _, l := range strings.Split(r.Stderr, "\n") {
			if len(l) > 300 {
				t.Errorf("saturn %s: error line of %d bytes echoes the input:\n%.400s", args[:2], len(l), l)
			}
		}
	}
}
