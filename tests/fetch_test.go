package tests

import (
	"archive/tar"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/tests/testimg"
)

// fetchFull fetches refs unsigned and returns the full ids saturn printed.
func (e *env) fetchFull(refs ...string) []string {
	e.t.Helper()
	out := e.mustSaturn(append([]string{"--insecure-options=image", "fetch", "--full"}, refs...)...)
	return strings.Fields(out)
}

// withT returns a copy of e that reports to the subtest t.
func (e *env) withT(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// fetchOne fetches one image unsigned and returns its full id.
func (e *env) fetchOne(ref string) string {
	e.t.Helper()
	ids := e.fetchFull(ref)
	if len(ids) != 1 {
		e.t.Fatalf("fetch %s printed %q, want one id", ref, ids)
	}
	return ids[0]
}

// fileID is the appc image id of an ACI file of any compression.
func fileID(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	plain, _, err := aci.Decompress(f)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	id, err := aci.ImageID(plain)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// storeState is what "the store is untouched" compares: the image list,
// the blob files, import temp files and trees.
func (e *env) storeState() string {
	e.t.Helper()
	var b strings.Builder
	b.WriteString(e.mustSaturn("image", "list", "--format=json"))
	for _, d := range []string{"cas/blobs", "cas/tmp", "tree"} {
		ents, _ := os.ReadDir(filepath.Join(e.Dir, d))
		for _, en := range ents {
			fmt.Fprintf(&b, "%s/%s\n", d, en.Name())
		}
	}
	return b.String()
}

// tarEntry is one entry of a hand-made archive.
type tarEntry struct {
	hdr  tar.Header
	body string
}

// rawACI writes entries as a tar file, for archives saturn's builder
// would never make.
func rawACI(t *testing.T, entries []tarEntry) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, en := range entries {
		h := en.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(en.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(en.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, "raw.aci", buf.Bytes())
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const minimalManifest = `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/raw"}`

func TestFetchCompressions(t *testing.T) {
	e := newEnv(t)
	dir := testimg.Dir(t, testimg.Options{}, testimg.BusyboxDir)
	var want string
	for _, c := range []aci.Compression{aci.NoCompression, aci.Gzip, aci.Bzip2, aci.Xz} {
		out := filepath.Join(t.TempDir(), "busybox-"+c.String()+".aci")
		if err := testimg.BuildACI(dir, out, c); err != nil {
			t.Fatal(err)
		}
		id := e.fetchOne(out)
		if fid := fileID(t, out); id != fid {
			t.Fatalf("%v: fetch printed %s, the file's image id is %s", c, id, fid)
		}
		if want == "" {
			want = id
		} else if id != want {
			t.Fatalf("%v: id %s differs from the uncompressed image's %s", c, id, want)
		}
		// Without --full fetch prints rkt's short id, a prefix of the id.
		short := strings.TrimSpace(e.mustSaturn("--insecure-options=image", "fetch", out))
		if len(short) != len("sha512-")+32 || !strings.HasPrefix(want, short) {
			t.Fatalf("%v: short id %q is not a 32-digit prefix of %s", c, short, want)
		}
	}
	list := e.mustSaturn("image", "list", "--no-legend", "--full", "--fields=id")
	if strings.TrimSpace(list) != want {
		t.Fatalf("image list = %q, want the one image %s", list, want)
	}
	// The store keeps the uncompressed tar, byte for byte.
	plain := filepath.Join(t.TempDir(), "plain.aci")
	if err := testimg.BuildACI(dir, plain, aci.NoCompression); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cmp", filepath.Join(e.Dir, "cas", "blobs", want), plain).CombinedOutput(); err != nil {
		t.Fatalf("stored blob differs from the plain ACI: %v %s", err, out)
	}
}

func TestFetchNeedsInsecureImage(t *testing.T) {
	e := newEnv(t)
	img := testimg.Busybox(t, testimg.Options{})
	before := e.storeState()
	e.failSaturn("--insecure-options=image", "fetch", img)
	if got := e.storeState(); got != before {
		t.Fatalf("store changed by a refused fetch:\n%s\nwas\n%s", got, before)
	}
	e.failSaturn("signature verification", "fetch", "file://"+img)
}

func TestFetchHTTP(t *testing.T) {
	e := newEnv(t)
	img := testimg.Busybox(t, testimg.Options{Compression: aci.Gzip})
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	var gets, notModified atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/busybox.aci":
			gets.Add(1)
			if r.Header.Get("If-None-Match") == `"v1"` {
				notModified.Add(1)
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"v1"`)
			w.Write(data)
		case "/cached.aci":
			gets.Add(1)
			w.Header().Set("Cache-Control", "max-age=3600")
			w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	url := srv.URL + "/busybox.aci"

	// As rkt: a URL given explicitly may be plain http without
	// --insecure-options=http, and its signature is still required.
	e.failSaturn("signature verification", "fetch", url)
	e.failSaturn("signature verification", "--insecure-options=http", "fetch", url)
	if gets.Load() != 0 {
		t.Fatalf("refused fetches made %d requests", gets.Load())
	}
	want := fileID(t, img)
	if id := strings.TrimSpace(e.mustSaturn("--insecure-options=image", "fetch", "--full", url)); id != want {
		t.Fatalf("fetch %s = %s, want %s", url, id, want)
	}
	// The default pull policy uses the stored copy without asking.
	e.fetchOne2(url)
	if gets.Load() != 1 {
		t.Fatalf("second fetch made a request (%d in all)", gets.Load())
	}
	// update revalidates with the ETag; 304 keeps the stored image.
	if id := e.fetchOne2(url, "--pull-policy=update"); id != want {
		t.Fatalf("revalidated fetch = %s, want %s", id, want)
	}
	if notModified.Load() != 1 {
		t.Fatalf("update fetch did not revalidate by ETag (%d requests)", gets.Load())
	}
	e.fetchOne2(url, "--no-store")
	if notModified.Load() != 2 {
		t.Fatal("--no-store did not revalidate")
	}
	// A fresh max-age answer is not asked again even with update.
	cached := srv.URL + "/cached.aci"
	e.fetchOne2(cached)
	n := gets.Load()
	e.fetchOne2(cached, "--pull-policy=update")
	if gets.Load() != n {
		t.Fatal("update fetch asked again within max-age")
	}
	e.failSaturn("404", "--insecure-options=image,http", "fetch", srv.URL+"/missing.aci")
	e.failSaturn("not found in the store", "--insecure-options=image,http", "fetch", "--pull-policy=never", srv.URL+"/other.aci")
}

// fetchOne2 fetches a URL over plain http unsigned with extra fetch flags.
func (e *env) fetchOne2(url string, flags ...string) string {
	e.t.Helper()
	args := append([]string{"--insecure-options=image,http", "fetch", "--full"}, flags...)
	out := e.mustSaturn(append(args, url)...)
	return strings.TrimSpace(out)
}

func TestFetchPullPolicy(t *testing.T) {
	e := newEnv(t)
	e.failSaturn(`cannot find image "example.com/busybox": not found in the store`, "fetch", "--pull-policy=never", "example.com/busybox")
	e.failSaturn("invalid --pull-policy", "fetch", "--pull-policy=sometimes", "example.com/busybox")
	id := e.fetchOne(testimg.Busybox(t, testimg.Options{Version: "1.2.3"}))
	for _, ref := range []string{"example.com/busybox", "example.com/busybox:1.2.3", "example.com/busybox,version=1.2.3"} {
		for _, policy := range []string{"never", "new"} {
			got := strings.TrimSpace(e.mustSaturn("fetch", "--full", "--pull-policy="+policy, ref))
			if got != id {
				t.Errorf("fetch --pull-policy=%s %s = %q, want %s", policy, ref, got, id)
			}
		}
	}
	e.failSaturn("not found", "fetch", "--store-only", "example.com/busybox:9.9")
}

func TestFetchBadInput(t *testing.T) {
	e := newEnv(t)
	good := testimg.Busybox(t, testimg.Options{})
	e.fetchOne(good)
	goodData, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	rootfs := tarEntry{hdr: tar.Header{Name: "rootfs/", Typeflag: tar.TypeDir, Mode: 0o755}}
	manifest := tarEntry{hdr: tar.Header{Name: "manifest", Typeflag: tar.TypeReg}, body: minimalManifest}
	tests := []struct {
		name string
		file func() string
		want string
	}{
		{"truncated tar", func() string { return writeTemp(t, "t.aci", goodData[:len(goodData)/2+7]) }, "truncated"},
		{"wrong compression", func() string {
			return writeTemp(t, "c.aci", append([]byte{0x1f, 0x8b, 8, 0}, bytes.Repeat([]byte("junk"), 200)...))
		}, "gzip"},
		{"not an archive", func() string { return writeTemp(t, "n.aci", bytes.Repeat([]byte("plain text\n"), 100)) }, "not a tar archive"},
		{"missing manifest", func() string {
			return rawACI(t, []tarEntry{rootfs, {hdr: tar.Header{Name: "rootfs/a", Typeflag: tar.TypeReg}, body: "a"}})
		}, "missing manifest"},
		{"invalid manifest JSON", func() string {
			return rawACI(t, []tarEntry{{hdr: tar.Header{Name: "manifest", Typeflag: tar.TypeReg}, body: `{"acKind": "ImageManifest", `}, rootfs})
		}, "manifest"},
		{"dot-dot entry", func() string {
			return rawACI(t, []tarEntry{manifest, rootfs, {hdr: tar.Header{Name: "rootfs/../../etc/x", Typeflag: tar.TypeReg}, body: "x"}})
		}, `".."`},
		{"write through symlink out of rootfs", func() string {
			return rawACI(t, []tarEntry{manifest, rootfs,
				{hdr: tar.Header{Name: "rootfs/etc", Typeflag: tar.TypeSymlink, Linkname: "/etc"}},
				{hdr: tar.Header{Name: "rootfs/etc/saturn-test-escape", Typeflag: tar.TypeReg}, body: "x"}})
		}, "symlink"},
		{"absolute entry", func() string {
			return rawACI(t, []tarEntry{manifest, rootfs, {hdr: tar.Header{Name: "/etc/x", Typeflag: tar.TypeReg}, body: "x"}})
		}, "absolute"},
		{"truncated bzip2", func() string {
			dir := testimg.Dir(t, testimg.Options{}, testimg.BusyboxDir)
			out := filepath.Join(t.TempDir(), "b.aci")
			if err := testimg.BuildACI(dir, out, aci.Bzip2); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			return writeTemp(t, "b.aci", data[:len(data)/3])
		}, "bzip2"},
		{"a directory", func() string {
			d := filepath.Join(t.TempDir(), "dir.aci")
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			return d
		}, "is a directory, not an ACI file"},
	}
	short := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.withT(t)
			before := e.storeState()
			// A short path, so the error can repeat it whole.
			file := filepath.Join(short, fmt.Sprintf("%d.aci", i))
			if err := os.Rename(tt.file(), file); err != nil {
				t.Fatal(err)
			}
			r := e.failSaturn(tt.want, "--insecure-options=image", "fetch", file)
			if n := strings.Count(r.Stderr, "saturn fetch:"); n != 1 {
				t.Errorf("%d error lines, want one:\n%s", n, r.Stderr)
			}
			if !strings.Contains(r.Stderr, file) {
				t.Errorf("error does not name the file %s:\n%s", file, r.Stderr)
			}
			if r.Stdout != "" {
				t.Errorf("refused fetch printed %q", r.Stdout)
			}
			if got := e.storeState(); got != before {
				t.Errorf("store changed:\n%s\nwas\n%s", got, before)
			}
		})
	}
	if _, err := os.Stat("/etc/saturn-test-escape"); err == nil {
		os.Remove("/etc/saturn-test-escape")
		t.Fatal("a fetch wrote /etc/saturn-test-escape")
	}
	e.failSaturn("no such file", "--insecure-options=image", "fetch", filepath.Join(t.TempDir(), "missing.aci"))
	// Without --insecure-options=image the missing file, not its missing
	// signature, is what the user hears about.
	e.failSaturn("no such file", "fetch", filepath.Join(t.TempDir(), "missing.aci"))
	e.failSaturn("no such file", "fetch", "--insecure-options=image", "relative/missing.aci")
	e.failSaturn("not found", "image", "cat-manifest", "example.com/unknown")
}

func TestFetchDependencies(t *testing.T) {
	e := newEnv(t)
	app := testimg.TestApp(t, testimg.Options{Modify: func(m *schema.ImageManifest) {
		m.Dependencies = types.Dependencies{{ImageName: "example.com/base", Labels: types.Labels{{Name: "version", Value: "1.0.0"}}}}
	}})
	before := e.storeState()
	r := e.failSaturn("example.com/base,version=1.0.0", "--insecure-options=image", "fetch", app)
	if !strings.Contains(r.Stderr, "fetch it first") {
		t.Errorf("error does not say what to do:\n%s", r.Stderr)
	}
	if got := e.storeState(); got != before {
		t.Fatalf("store changed:\n%s\nwas\n%s", got, before)
	}
	base := testimg.Busybox(t, testimg.Options{Name: "example.com/base", Files: map[string]string{"/etc/from-base": "base\n"}})
	e.fetchOne(base)
	id := e.fetchOne(app)
	out := filepath.Join(t.TempDir(), "rendered")
	e.mustSaturn("image", "render", id, out)
	for _, p := range []string{"rootfs/etc/from-base", "rootfs/bin/busybox", "rootfs/testapp", "manifest"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("render of app over base: %v", err)
		}
	}
}

func TestFetchConcurrent(t *testing.T) {
	e := newEnv(t)
	img := testimg.Busybox(t, testimg.Options{Compression: aci.Xz})
	want := fileID(t, img)
	const n = 4
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.saturn("--insecure-options=image", "fetch", "--full", img)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != want {
			t.Fatalf("fetch %d: %s\nwant id %s", i, r, want)
		}
	}
	list := strings.Fields(e.mustSaturn("image", "list", "--no-legend", "--full", "--fields=id"))
	if len(list) != 1 || list[0] != want {
		t.Fatalf("image list = %q, want only %s", list, want)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.Dir, "cas", "tmp")); len(ents) != 0 {
		t.Fatalf("%d temp files left after concurrent fetches", len(ents))
	}
	e.mustSaturn("image", "export", want, filepath.Join(t.TempDir(), "out.aci"))
}

// imageGCLoop runs image gc with no grace period over and over until the
// returned stop is called, which returns how many ran.
func (e *env) imageGCLoop() (stop func() int) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	runs := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			e.saturn("image", "gc", "--grace-period=0s")
			runs++
		}
	}()
	return func() int {
		close(done)
		wg.Wait()
		return runs
	}
}

func TestFetchDuringImageGC(t *testing.T) {
	e := newEnv(t)
	img := testimg.Busybox(t, testimg.Options{})
	want := fileID(t, img)
	stop := e.imageGCLoop()
	for range 5 {
		if id := e.fetchOne(img); id != want {
			t.Errorf("fetch during gc = %s, want %s", id, want)
		}
	}
	stop()
	// Whatever gc removed, what the index lists must be whole.
	for _, id := range strings.Fields(e.mustSaturn("image", "list", "--no-legend", "--full", "--fields=id")) {
		e.mustSaturn("image", "export", "--overwrite", id, filepath.Join(t.TempDir(), "out.aci"))
	}
	blobs, _ := os.ReadDir(filepath.Join(e.Dir, "cas", "blobs"))
	listed := strings.Fields(e.mustSaturn("image", "list", "--no-legend", "--full", "--fields=id"))
	if len(blobs) != len(listed) {
		t.Fatalf("%d blobs on disk, %d images indexed", len(blobs), len(listed))
	}
}

func TestFetchKilled(t *testing.T) {
	e := newEnv(t)
	// Big enough that the half served before the server stalls is far
	// more than the importer buffers, so the temp file surely grows.
	img := testimg.Busybox(t, testimg.Options{Files: map[string]string{"/big": strings.Repeat("saturn", 2<<20)}})
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	cmd := e.command("--insecure-options=image,http", "fetch", srv.URL+"/slow.aci")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tmpDir := filepath.Join(e.Dir, "cas", "tmp")
	deadline := time.Now().Add(time.Minute)
	for !tempFileGrown(tmpDir) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("fetch never started writing its temp file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	if list := e.mustSaturn("image", "list", "--no-legend"); list != "" {
		t.Fatalf("killed fetch left a visible image:\n%s", list)
	}
	e.failSaturn("no image IDs found", "image", "cat-manifest", fileID(t, img))
	r := e.saturn("image", "gc")
	if r.Code != 0 || !strings.Contains(r.Stderr, "leftover") {
		t.Fatalf("image gc did not report the leftover: %s", r)
	}
	if ents, _ := os.ReadDir(tmpDir); len(ents) != 0 {
		t.Fatalf("gc left %d temp files", len(ents))
	}
	// The store still works.
	e.fetchOne(img)
}

// tempFileGrown reports whether an import temp file with content exists.
func tempFileGrown(dir string) bool {
	ents, _ := os.ReadDir(dir)
	for _, en := range ents {
		if fi, err := en.Info(); err == nil && fi.Size() > 0 {
			return true
		}
	}
	return false
}

func TestFetchActoolBuiltImage(t *testing.T) {
	e := newEnv(t)
	dir := testimg.Dir(t, testimg.Options{Files: map[string]string{"/etc/motd": "hello\n"}}, testimg.BusyboxDir)
	ours := filepath.Join(t.TempDir(), "ours.aci")
	if err := testimg.BuildACI(dir, ours, aci.Gzip); err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(t.TempDir(), "actool.aci")
	cmd := exec.Command(goBin(), "tool", "actool", "build", dir, theirs)
	cmd.Dir = testimg.ModuleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actool build: %v\n%s", err, out)
	}
	renders := make([]string, 2)
	for i, img := range []string{ours, theirs} {
		id := e.fetchOne(img)
		renders[i] = filepath.Join(t.TempDir(), "render")
		e.mustSaturn("image", "render", id, renders[i])
	}
	a, b := describeTree(t, renders[0]), describeTree(t, renders[1])
	if a != b {
		t.Fatalf("renders differ:\nsaturn-built:\n%s\nactool-built:\n%s", a, b)
	}
}

func goBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// describeTree lists every path under root with its type, permissions,
// owner, size, link target and content digest, one line each.
func describeTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %v %d:%d", rel, fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if rel == "manifest" {
				data = canonicalManifest(t, data)
			}
			fmt.Fprintf(&b, " %x", sha512Sum(data))
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", target)
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
