package tests

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/tests/testimg"
	"github.com/saturn-pods/saturn/trust/gpgtest"
)

// Functional tests of stage0 behaving as rkt 1.30 did where rkt users'
// scripts and images depend on it (issue 11).

// TestRktShortImageIDs: the short id fetch prints names the image in a
// --pod-manifest, as the full id does.
func TestRktShortImageIDs(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	short := strings.TrimSpace(e.mustSaturn("--insecure-options=image", "fetch", ta))
	if len(short) != len("sha512-")+32 {
		t.Fatalf("fetch printed %q, want the 32-hex short id", short)
	}
	pm := fmt.Sprintf(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"short",
		"image":{"id":%q},"app":{"exec":["/testapp","args","by-short-id"],"user":"0","group":"0"}}]}`, short)
	manifest := writeTemp(t, "pod.json", []byte(pm))
	r, uuid := podRun(t, e, "--pod-manifest="+manifest)
	if r.Code != 0 || !slices.Equal(appLines(r.Stdout+r.Stderr, "short"), []string{"by-short-id"}) {
		t.Fatalf("run --pod-manifest with a short image id: %s", r)
	}
	// The pod's own manifest holds the full id.
	var got schema.PodManifest
	if err := json.Unmarshal([]byte(e.mustSaturn("cat-manifest", uuid)), &got); err != nil {
		t.Fatal(err)
	}
	if id := got.Apps[0].Image.ID.String(); id != fileID(t, ta) {
		t.Errorf("pod manifest image id %s, want the full id %s", id, fileID(t, ta))
	}

}

// TestRktShortImageIDDependency: a dependency pinned by the short id fetch
// prints is found in the store.
func TestRktShortImageIDDependency(t *testing.T) {
	e := newEnv(t)
	base := testimg.Busybox(t, testimg.Options{Name: "example.com/short-base", NoApp: true,
		Files: map[string]string{"/from-base": "base\n"}})
	baseShort := strings.TrimSpace(e.mustSaturn("--insecure-options=image", "fetch", base))
	h, err := types.NewHash(baseShort)
	if err != nil {
		t.Fatal(err)
	}
	app := testimg.TestApp(t, testimg.Options{Name: "example.com/short-app", Modify: func(m *schema.ImageManifest) {
		m.Dependencies = types.Dependencies{{ImageName: "example.com/short-base", ImageID: h}}
	}})
	if r := e.saturn("--insecure-options=image", "fetch", "--pull-policy=never", app); r.Code != 0 {
		t.Fatalf("fetch of an image whose dependency is pinned by its short id: %s", r)
	}
	out := filepath.Join(t.TempDir(), "rendered")
	e.mustSaturn("image", "render", "example.com/short-app", out)
	if _, err := os.Stat(filepath.Join(out, "rootfs/from-base")); err != nil {
		t.Errorf("dependency pinned by short id not rendered: %v", err)
	}
}

// TestRktRunFlagsBeforeCommand: rkt's cobra root took a command's flags
// before its name.
func TestRktRunFlagsBeforeCommand(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	r := e.saturn("--net=none", "--set-env=A=from-before", "--insecure-options=image", "run", bb, "--exec=/bin/sh", "--", "-c", "echo A=$A")
	if r.Code != 0 || !slices.Equal(appLines(r.Stdout+r.Stderr, "busybox"), []string{"A=from-before"}) {
		t.Errorf("saturn --net=none --set-env=A=… run: %s", r)
	}
	// A value given as the next word, and a global flag after the name.
	r = e.saturn("--set-env", "A=next-word", "run", "--net=none", "--insecure-options=image", bb, "--exec=/bin/sh", "--", "-c", "echo A=$A")
	if r.Code != 0 || !slices.Equal(appLines(r.Stdout+r.Stderr, "busybox"), []string{"A=next-word"}) {
		t.Errorf("saturn --set-env A=… run: %s", r)
	}
	if out := e.mustSaturn("--no-legend", "image", "list"); strings.Contains(out, "ID") {
		t.Errorf("saturn --no-legend image list printed the legend:\n%s", out)
	}
}

// TestRktDiscoveryOverHTTPNeedsFlag: an http:// URL given explicitly is
// fetched (TestFetchHTTP), but discovery that would use plain http still
// needs --insecure-options=http.
func TestRktDiscoveryOverHTTPNeedsFlag(t *testing.T) {
	e := newEnv(t)
	host := fmt.Sprintf("127.78.%d.%d", os.Getpid()%250+1, serverSeq.Add(1))
	name := host + "/plain"
	img := testimg.Busybox(t, testimg.Options{Name: name, Version: "1.0.0"})
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	servePlainHTTP(t, net.JoinHostPort(host, "80"), func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("ac-discovery") == "1" {
			fmt.Fprintf(w, `<meta name="ac-discovery" content="%s http://%s/{name}-{version}.{ext}">`, host, host)
			return
		}
		if r.URL.Path == "/"+name+"-1.0.0.aci" {
			w.Write(data)
			return
		}
		http.NotFound(w, r)
	})

	r := e.failSaturn("discovery", "--insecure-options=image", "fetch", name+":1.0.0")
	if blobs := casBlobs(t, e); len(blobs) != 0 {
		t.Fatalf("refused discovery stored %v:\n%s", blobs, r)
	}
	if id := strings.TrimSpace(e.mustSaturn("--insecure-options=image,http", "fetch", "--full", name+":1.0.0")); id != fileID(t, img) {
		t.Errorf("discovery over http with --insecure-options=http fetched %s", id)
	}
}

// TestRktStage1AtHTTPURL: a stage1 at an http:// URL is fetched as rkt
// did, signature rules unchanged.
func TestRktStage1AtHTTPURL(t *testing.T) {
	e := newEnv(t)
	s1data, err := os.ReadFile(stage1Image("stage1-fly"))
	if err != nil {
		t.Fatal(err)
	}
	addr := servePlainHTTP(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stage1-fly.aci" {
			w.Write(s1data)
			return
		}
		http.NotFound(w, r)
	})
	s1url := "http://" + addr + "/stage1-fly.aci"
	e.failSaturn("signature verification", "run", "--net=host", "--stage1-url="+s1url, pidNSImage(t))
	r := e.saturn("run", "--insecure-options=image", "--net=host", "--stage1-url="+s1url, pidNSImage(t))
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != nsLink(t, "pid") {
		t.Errorf("run with a stage1 at an http:// URL: %s", r)
	}
}

// servePlainHTTP serves h over plain http on addr until the test ends and
// returns the address it listens on.
func servePlainHTTP(t *testing.T, addr string, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestRktDeferredSignature: a signature server answering 202 Accepted is
// asked again once the image is downloaded, as rkt did; a second 202 is
// an error and nothing is stored.
func TestRktDeferredSignature(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	g := gpgtest.New(t)
	fpr := g.GenKey("Publisher <publisher@example.com>", "never")
	trustKey(t, e, g, fpr, srv.Host)
	for _, tc := range []struct {
		name     string
		accepted int
	}{{"deferred", 1}, {"deferred twice", 2}} {
		name := srv.Host + "/" + strings.ReplaceAll(tc.name, " ", "-")
		img, sig := signed(t, g, fpr, testimg.Options{Name: name, Version: "1.0.0"})
		srv.publish(name, "1.0.0", img, sig)
		srv.mu.Lock()
		srv.accepted[srv.imagePath(name, "1.0.0")+".asc"] = tc.accepted
		srv.mu.Unlock()
		r := e.saturn("fetch", "--full", name+":1.0.0")
		if !strings.Contains(r.Stderr, "server requested deferring the signature download") {
			t.Errorf("%s: fetch does not say the signature download was deferred: %s", tc.name, r)
		}
		if tc.accepted == 1 {
			if r.Code != 0 || strings.TrimSpace(r.Stdout) != fileID(t, img) || !strings.Contains(r.Stderr, "signature verified") {
				t.Errorf("%s: fetch: %s", tc.name, r)
			}
			continue
		}
		if r.Code == 0 || !strings.Contains(r.Stderr, "server asked to defer the download again") {
			t.Errorf("%s: fetch: %s", tc.name, r)
		}
		if strings.Contains(e.mustSaturn("image", "list", "--no-legend", "--fields=name"), name) {
			t.Errorf("%s: refused image was stored", tc.name)
		}
	}
}

// TestRktImageListSize: SIZE is the blob and its rendered tree, as rkt's.
func TestRktImageListSize(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	id := e.fetchOne(bb)
	size := func() int64 {
		var entries []struct {
			ID   string `json:"id"`
			Size int64  `json:"size"`
		}
		if err := json.Unmarshal([]byte(e.mustSaturn("image", "list", "--format=json")), &entries); err != nil {
			t.Fatal(err)
		}
		for _, en := range entries {
			if en.ID == id {
				return en.Size
			}
		}
		t.Fatalf("image %s not listed", id)
		return 0
	}
	blob, err := os.Stat(filepath.Join(e.Dir, "cas", "blobs", id))
	if err != nil {
		t.Fatal(err)
	}
	if got := size(); got != blob.Size() {
		t.Fatalf("size before a tree is rendered = %d, want the blob's %d", got, blob.Size())
	}
	e.mustSaturn("prepare", "--insecure-options=image", bb)
	var tree int64
	trees, _ := filepath.Glob(filepath.Join(e.Dir, "tree", "deps-*"))
	for _, tr := range trees {
		if ids, err := os.ReadFile(filepath.Join(tr, "images")); err != nil || !strings.HasPrefix(string(ids), id) {
			continue
		}
		for _, top := range []string{"manifest", "rootfs"} {
			filepath.WalkDir(filepath.Join(tr, top), func(p string, d fs.DirEntry, err error) error {
				if fi, err := os.Lstat(p); err == nil {
					tree += fi.Size()
				}
				return nil
			})
		}
	}
	if tree == 0 {
		t.Fatalf("no tree of %s among %v", id, trees)
	}
	if got := size(); got != blob.Size()+tree {
		t.Errorf("size with its tree = %d, want blob %d + tree %d", got, blob.Size(), tree)
	}
	// rkt's --sort fields only.
	e.mustSaturn("image", "list", "--sort=size", "--order=DESC")
	e.failSaturn(`--sort: unknown field "id"`, "image", "list", "--sort=id")
}

// TestRktMessages: the common failures start with rkt's words.
func TestRktMessages(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	// Raw images until two ids share their first hex digit.
	byFirst := map[byte]string{}
	shared := ""
	for i := 0; shared == ""; i++ {
		img := rawACI(t, []tarEntry{
			{hdr: tarHeader("manifest"), body: minimalManifest},
			{hdr: tarDir("rootfs")},
			{hdr: tarHeader("rootfs/n"), body: fmt.Sprint(i)},
		})
		id := e.fetchOne(img)
		c := id[len("sha512-")]
		if _, ok := byFirst[c]; ok {
			shared = id[:len("sha512-")+1]
		}
		byFirst[c] = id
	}
	manifest := writeTemp(t, "pod.json", []byte(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[]}`))
	for _, tc := range []struct {
		want string
		args []string
	}{
		{`cannot find image "example.com/nope"`, []string{"image", "rm", "example.com/nope"}},
		{`cannot find image "example.com/nope": not found in the store (--pull-policy=never)`, []string{"fetch", "--pull-policy=never", "example.com/nope"}},
		{`cannot resolve image ID "sha512-0000": no image IDs found`, []string{"image", "cat-manifest", "sha512-0000"}},
		{fmt.Sprintf(`ambiguous image ID: %q`, shared), []string{"image", "cat-manifest", shared}},
		{`no matches found for "0000"`, []string{"status", "0000"}},
		{`invalid UUID "zz"`, []string{"status", "zz"}},
		{"conflicting flags set with --pod-manifest", []string{"run", "--insecure-options=image", "--pod-manifest=" + manifest, ta}},
		{"flags --stage1-name and --stage1-path are mutually exclusive", []string{"run", "--stage1-path=/a.aci", "--stage1-name=example.com/s1", ta}},
		{"both --store-only and --no-store specified", []string{"fetch", "--store-only", "--no-store", ta}},
	} {
		r := e.saturn(tc.args...)
		if r.Code != 254 || !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
			t.Errorf("%v: want exit 254 and one line with %q: %s", tc.args, tc.want, r)
		}
	}
}

func tarHeader(name string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeReg} }
func tarDir(name string) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}
}

// TestRktFlyImageIsolators: stage1-fly ignores the resource limits an
// image asks for, with a warning, and refuses those the operator gives
// before any pod exists; an image's seccomp filter is still refused.
func TestRktFlyImageIsolators(t *testing.T) {
	e := newEnv(t)
	mem, err := types.NewResourceMemoryIsolator("100M", "100M")
	if err != nil {
		t.Fatal(err)
	}
	img := testimg.Busybox(t, testimg.Options{Exec: []string{"/bin/echo", "ran"}, Modify: func(m *schema.ImageManifest) {
		m.App.Isolators = types.Isolators{mem.AsIsolator()}
	}})
	r, _ := e.flyRun("--net=host", img)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "ran" || !strings.Contains(r.Stderr, "warning: ignoring isolator resource/memory of image example.com/busybox") {
		t.Errorf("fly with an image's memory limit: %s", r)
	}
	before := podDirs(t, e)
	e.failSaturn("cannot apply isolator resource/memory", "run", "--insecure-options=image", "--net=host",
		"--stage1-path="+stage1Image("stage1-fly"), img, "--memory=50M")
	if after := podDirs(t, e); len(after) != len(before) {
		t.Errorf("refused fly pod left a pod directory: %v", after)
	}
	seccomp, err := types.NewLinuxSeccompRemoveSet("", "chmod")
	if err != nil {
		t.Fatal(err)
	}
	seccompIso, err := seccomp.AsIsolator()
	if err != nil {
		t.Fatal(err)
	}
	filtered := testimg.Busybox(t, testimg.Options{Name: "example.com/filtered", Modify: func(m *schema.ImageManifest) {
		m.App.Isolators = types.Isolators{*seccompIso}
	}})
	if r, _ := e.flyRun("--net=host", filtered); r.Code == 0 || !strings.Contains(r.Stderr, "cannot apply isolator os/linux/seccomp-") {
		t.Errorf("fly with an image's seccomp filter: %s", r)
	}
}

// TestRktStatusOutput: list/status JSON has rkt's keys only, and status
// of an exited pod still prints networks=.
func TestRktStatusOutput(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	_, uuid := startPod(t, e, ta, "--exec=/testapp", "--", "wait-signal")
	rktKeys := []string{"name", "state", "networks", "app_names", "apps", "created_at", "started_at", "user_annotations", "user_labels"}
	var status map[string]json.RawMessage
	if err := json.Unmarshal([]byte(e.mustSaturn("status", "--format=json", uuid)), &status); err != nil {
		t.Fatal(err)
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(e.mustSaturn("list", "--format=json")), &list); err != nil || len(list) != 1 {
		t.Fatalf("list --format=json: %v %v", list, err)
	}
	for what, pod := range map[string]map[string]json.RawMessage{"status": status, "list": list[0]} {
		for k := range pod {
			if !slices.Contains(rktKeys, k) {
				t.Errorf("%s JSON has key %q, not one of rkt's %v", what, k, rktKeys)
			}
		}
	}
	e.mustSaturn("stop", uuid)
	st := e.mustSaturn("status", "--wait=1m", uuid)
	if !strings.Contains(st, "state=exited") || !strings.Contains(st, "\nnetworks=") {
		t.Errorf("status of an exited pod does not print networks=:\n%s", st)
	}
}

// TestRktVersion: version prints rkt's lines, Features: too, and so does
// saturn --version.
func TestRktVersion(t *testing.T) {
	e := newEnv(t)
	out := e.mustSaturn("version")
	for _, want := range []string{"saturn Version: ", "\nappc Version: ", "\nGo Version: ", "\nGo OS/Arch: ", "\nFeatures: "} {
		if !strings.Contains(out, want) {
			t.Errorf("version lacks %q:\n%s", want, out)
		}
	}
	if r := e.saturn("--version"); r.Code != 0 || r.Stdout != out {
		t.Errorf("saturn --version: %s", r)
	}
}

// TestRktHelp: saturn without a command is rkt's usage error, and
// "saturn image --help" lists the image commands (hidden ones not).
func TestRktHelp(t *testing.T) {
	e := newEnv(t)
	r := e.saturn()
	if r.Code != 254 || !strings.Contains(r.Stderr, "missing command") || !strings.Contains(r.Stdout, "Commands:") {
		t.Errorf("saturn without a command: %s", r)
	}
	for _, args := range [][]string{{"image", "--help"}, {"image"}, {"help", "image"}} {
		r := e.saturn(args...)
		if r.Code != 0 || !strings.Contains(r.Stdout, "image list") || strings.Contains(r.Stdout, "image fetch") {
			t.Errorf("saturn %v: %s", args, r)
		}
	}
	if out := e.mustSaturn("help"); strings.Contains(out, "cpuprofile") || strings.Contains(out, "image fetch") {
		t.Errorf("help lists hidden flags or commands:\n%s", out)
	}
}

// TestRktConfigPrettyPrint: config --pretty-print[=false], as rkt.
func TestRktConfigPrettyPrint(t *testing.T) {
	e := newEnv(t)
	if r := e.saturn("config", "--pretty-print=false"); r.Code != 0 || strings.Contains(strings.TrimSpace(r.Stdout), "\n") || !strings.HasPrefix(r.Stdout, `{"stage0":`) {
		t.Errorf("config --pretty-print=false: %s", r)
	}
	if out := e.mustSaturn("config", "--pretty-print"); !strings.Contains(out, "\n\t") {
		t.Errorf("config --pretty-print is not indented:\n%s", out)
	}
}

// TestRktImageFetchAlias: rkt's hidden "image fetch".
func TestRktImageFetchAlias(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	if r := e.saturn("--insecure-options=image", "image", "fetch", "--full", ta); r.Code != 0 || strings.TrimSpace(r.Stdout) != fileID(t, ta) {
		t.Errorf("image fetch: %s", r)
	}
}

// TestRktProfileFlags: rkt's hidden global --cpuprofile and --memprofile.
func TestRktProfileFlags(t *testing.T) {
	e := newEnv(t)
	cpu, mem := filepath.Join(t.TempDir(), "cpu.prof"), filepath.Join(t.TempDir(), "mem.prof")
	if r := e.saturn("--cpuprofile="+cpu, "--memprofile="+mem, "image", "list"); r.Code != 0 {
		t.Fatalf("profiled image list: %s", r)
	}
	for _, p := range []string{cpu, mem} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s not written: %v", p, err)
		}
	}
}

// TestRktListLayout: list's columns are tab-separated as rkt's, so long
// names do not skew them, and a pod's further apps are rows without the
// pod's columns.
func TestRktListLayout(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	long := strings.Repeat("long", 10)
	uuid := strings.TrimSpace(e.mustSaturn("prepare", "--insecure-options=image", bb, "--name="+long, bb, "--name=second"))
	lines := strings.Split(strings.TrimRight(e.mustSaturn("list", "--no-legend"), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("list printed %q, want a row per app", lines)
	}
	first := strings.Fields(lines[0])
	if first[0] != uuid[:8] || first[1] != long || first[3] != "prepared" {
		t.Errorf("first row %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "\t") || strings.Fields(lines[1])[0] != "second" {
		t.Errorf("continuation row %q, want the app's columns only", lines[1])
	}
	for _, l := range lines {
		if strings.Contains(l, "  ") {
			t.Errorf("row %q is padded with spaces, not tabs", l)
		}
	}
}

// TestRktAnnotations: --annotation per app and for the pod.
func TestRktAnnotations(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	uuid := strings.TrimSpace(e.mustSaturn("prepare", "--insecure-options=image", "--annotation=example.com/pod=p", ta, "--annotation=example.com/app=a"))
	var pm schema.PodManifest
	if err := json.Unmarshal([]byte(e.mustSaturn("cat-manifest", uuid)), &pm); err != nil {
		t.Fatal(err)
	}
	if v, _ := pm.Annotations.Get("example.com/pod"); v != "p" {
		t.Errorf("pod annotations %v", pm.Annotations)
	}
	if v, _ := pm.Apps[0].Annotations.Get("example.com/app"); v != "a" {
		t.Errorf("app annotations %v", pm.Apps[0].Annotations)
	}
	e.failSaturn("saturn's own", "prepare", "--insecure-options=image", ta, "--annotation=coreos.com/rkt/stage2/stdin=tty")
}

// TestRktHostsEntryLists: --hosts-entry comma lists are split and the
// names of one IP merged on its line, as rkt wrote /etc/hosts.
func TestRktHostsEntryLists(t *testing.T) {
	e := newEnv(t)
	ta := testimg.TestApp(t, testimg.Options{})
	r, _ := podRun(t, e, "--hosts-entry=10.1.1.1=one,10.1.1.2=two", "--hosts-entry=10.1.1.1=uno", ta, "--exec=/testapp", "--", "cat", "/etc/hosts")
	got := appLines(r.Stdout+r.Stderr, "testapp")
	if r.Code != 0 || !slices.Contains(got, "10.1.1.1 one uno") || !slices.Contains(got, "10.1.1.2 two") {
		t.Errorf("/etc/hosts of --hosts-entry comma lists: %q\n%s", got, r)
	}
}

// TestRktImageBuild: saturn image build makes an ACI of a directory,
// device nodes included, as mkaci does.
func TestRktImageBuild(t *testing.T) {
	e := newEnv(t)
	dir := testimg.Dir(t, testimg.Options{}, testimg.BusyboxDir)
	if err := os.MkdirAll(filepath.Join(dir, "rootfs/dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(dir, "rootfs/dev/mynull"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "built.aci")
	e.mustSaturn("image", "build", dir, out)
	e.failSaturn("exists (use --overwrite)", "image", "build", dir, out)
	e.mustSaturn("image", "build", "--overwrite", "--compression=none", dir, out)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := aci.Validate(f)
	f.Close()
	if err != nil {
		t.Fatalf("image build made an invalid ACI: %v", err)
	}
	if img.Manifest.Name != "example.com/busybox" {
		t.Errorf("built image is named %s", img.Manifest.Name)
	}
	if id := e.fetchOne(out); id != fileID(t, out) {
		t.Errorf("built image fetched as %s", id)
	}
}

// TestRktStage0RefusesWhatStage1Would: what stage1 would refuse is refused
// before a pod exists: fly's second app and --hostname, a working
// directory the app's user cannot enter.
func TestRktStage0RefusesWhatStage1Would(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	secret := testimg.Dir(t, testimg.Options{Exec: []string{"/bin/true"}}, testimg.BusyboxDir)
	if err := os.Mkdir(filepath.Join(secret, "rootfs/secret"), 0o700); err != nil {
		t.Fatal(err)
	}
	secretACI := filepath.Join(t.TempDir(), "secret.aci")
	if err := testimg.BuildACI(secret, secretACI, aci.NoCompression); err != nil {
		t.Fatal(err)
	}
	fly := "--stage1-path=" + stage1Image("stage1-fly")
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"runs at most 1 app(s) per pod", []string{fly, "--net=host", bb, bb, "--name=second"}},
		{"cannot honour --hostname", []string{fly, "--net=host", "--hostname=box", bb}},
		{`user 1000 cannot enter working directory "/secret"`, []string{"--net=none", secretACI, "--user=1000", "--working-dir=/secret"}},
	} {
		r := e.saturn(append([]string{"run", "--insecure-options=image"}, tc.args...)...)
		if r.Code != 254 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("want a refusal saying %q: %s", tc.want, r)
		}
		if dirs := podDirs(t, e); len(dirs) != 0 {
			t.Errorf("%s: refused pod left %v", tc.want, dirs)
		}
		e.mustSaturn("gc", "--grace-period=0s")
	}
	// root may enter it.
	if r, _ := podRun(t, e, secretACI, "--user=0", "--working-dir=/secret"); r.Code != 0 {
		t.Errorf("root in /secret: %s", r)
	}
}

// TestRktWarnUnverifiedOnce: one warning per run about unverified images,
// however many it fetches.
func TestRktWarnUnverifiedOnce(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	ta := testimg.TestApp(t, testimg.Options{})
	r, _ := podRun(t, e, bb, "--exec=/bin/true", ta)
	if n := strings.Count(r.Stderr, "signature verification has been disabled"); r.Code != 0 || n != 1 {
		t.Errorf("run with two unverified images warned %d times: %s", n, r)
	}
}

// TestRktImageRmInUse: image rm refuses an image a prepared or running pod
// uses.
func TestRktImageRmInUse(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	id := e.fetchOne(bb)
	uuid := strings.TrimSpace(e.mustSaturn("prepare", "--insecure-options=image", bb))
	e.failSaturn("is in use by pod "+uuid+" (prepared)", "image", "rm", id)
	if _, err := os.Stat(filepath.Join(e.Dir, "cas", "blobs", id)); err != nil {
		t.Fatalf("refused image rm removed the blob: %v", err)
	}
}

// TestRktImageRmTrees: image rm removes the image's rendered trees.
func TestRktImageRmTrees(t *testing.T) {
	e := newEnv(t)
	bb := testimg.Busybox(t, testimg.Options{})
	id := e.fetchOne(bb)
	uuid := strings.TrimSpace(e.mustSaturn("prepare", "--insecure-options=image", bb))
	e.mustSaturn("rm", uuid)
	trees := func() []string {
		var out []string
		ents, _ := os.ReadDir(filepath.Join(e.Dir, "tree"))
		for _, en := range ents {
			if ids, err := os.ReadFile(filepath.Join(e.Dir, "tree", en.Name(), "images")); err == nil && strings.Contains(string(ids), id) {
				out = append(out, en.Name())
			}
		}
		sort.Strings(out)
		return out
	}
	if len(trees()) == 0 {
		t.Fatal("the pod rendered no tree of the image")
	}
	e.mustSaturn("image", "rm", id)
	if left := trees(); len(left) != 0 {
		t.Errorf("image rm left its trees %v", left)
	}
}
