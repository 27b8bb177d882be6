package tests

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// checkScript is the app's command in the test images: it prints what
// the image's layers and config made of its rootfs and process.
const checkScript = `echo user=$(id -u):$(id -g) pwd=$(pwd) foo=$FOO; echo data: $(ls /data); echo change: $(cat /data/change); echo opq: $(ls /opq); echo inodes: $(stat -c %i /hl/a /hl/b | sort -u | wc -l)`

// wantCheck is what checkScript prints for the "app" image.
var wantCheck = []string{
	"user=1000:1000 pwd=/data foo=bar",
	"data: change keep new",
	"change: v2",
	"opq: fresh",
	"inodes: 1",
}

// rawTar makes an uncompressed layer tar of entries (a name ending in /
// is a directory).
func rawTar(t *testing.T, entries ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range entries {
		hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(name))}
		if strings.HasSuffix(name, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			tw.Write([]byte(name))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testImages builds, with umoci, "base" (busybox and data), "app" (base,
// then a layer that deletes, changes and adds files and makes a hard
// link, then a layer with an opaque directory) and "other" (base and a
// layer of its own) in one layout.
func testImages(t *testing.T) *ociLayout {
	t.Helper()
	l := newOCILayout(t)
	l.layer("", "base", func(rootfs string) {
		busyboxRootfs(t, rootfs)
		for p, content := range map[string]string{"data/old": "old", "data/keep": "keep", "data/change": "v1", "opq/lower1": "1", "opq/lower2": "2"} {
			writeTestFile(t, filepath.Join(rootfs, p), []byte(content))
		}
		must(t, os.MkdirAll(filepath.Join(rootfs, "hl"), 0o755))
	})
	l.layer("base", "app", func(rootfs string) {
		must(t, os.Remove(filepath.Join(rootfs, "data/old")))
		writeTestFile(t, filepath.Join(rootfs, "data/change"), []byte("v2"))
		writeTestFile(t, filepath.Join(rootfs, "data/new"), []byte("new"))
		writeTestFile(t, filepath.Join(rootfs, "hl/a"), []byte("linked"))
		must(t, os.Link(filepath.Join(rootfs, "hl/a"), filepath.Join(rootfs, "hl/b")))
	})
	l.rawLayer("app", rawTar(t, "opq/", "opq/.wh..wh..opq", "opq/fresh"))
	l.config("app", "--config.user=tester", "--config.workingdir=/data", "--config.env=FOO=bar",
		"--config.entrypoint=/bin/sh", "--config.cmd=-c", "--config.cmd="+checkScript,
		"--config.exposedports=80/tcp", "--config.volume=/vol", "--config.label=org.example.team=core")
	l.layer("base", "other", func(rootfs string) {
		writeTestFile(t, filepath.Join(rootfs, "other"), []byte("other"))
	})
	l.config("other", "--config.entrypoint=/bin/cat", "--config.cmd=/other")
	return l
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// layerDigests are the layer digests of tag in the layout, bottom first.
func (l *ociLayout) layerDigests(tag string) []string {
	l.t.Helper()
	out, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+l.image(tag)).Output()
	if err != nil {
		l.t.Fatalf("skopeo inspect: %v", err)
	}
	var ds []string
	for _, part := range strings.Split(string(out), `"digest":"`)[2:] {
		ds = append(ds, part[:strings.IndexByte(part, '"')])
	}
	return ds
}

// storeEmpty fails the test unless e's store holds no image, no layer
// and no temp file.
func storeEmpty(t *testing.T, e *env) {
	t.Helper()
	if out := e.mustSaturn("image", "list", "--no-legend"); strings.TrimSpace(out) != "" {
		t.Errorf("image list after a refused fetch:\n%s", out)
	}
	for _, d := range []string{"cas/layers", "cas/tmp", "cas/blobs"} {
		ents, _ := os.ReadDir(filepath.Join(e.Dir, d))
		if len(ents) != 0 {
			t.Errorf("%s holds %d entries after a refused fetch", d, len(ents))
		}
	}
}

// pushTestImages builds testImages and pushes app and other to reg as
// test/app:v1 and test/other:v1.
func pushTestImages(t *testing.T, reg *testRegistry) *ociLayout {
	t.Helper()
	l := testImages(t)
	reg.push(l.Dir, "app", "test/app:v1")
	reg.push(l.Dir, "other", "test/other:v1")
	return l
}

func TestOCIRegistryPlainHTTP(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t, e, false)
	l := pushTestImages(t, reg)
	app := reg.Ref("test/app:v1")

	e.failSaturn("does not speak https, and plain http is refused (allow it with --insecure-options=http)", "--insecure-options=image", "fetch", app)
	e.failSaturn("Docker and OCI images are unsigned; pin it by digest", "--insecure-options=http", "fetch", app)
	storeEmpty(t, e)

	id := strings.TrimSpace(e.mustSaturn("--insecure-options=image,http", "fetch", "--full", app))
	if !strings.HasPrefix(id, "sha512-") {
		t.Fatalf("fetch printed %q", id)
	}
	if out := e.mustSaturn("image", "list", "--no-legend", "--fields=id,name"); !strings.Contains(out, reg.Host+"/test/app:v1") {
		t.Errorf("image list does not name the image:\n%s", out)
	}
	r := e.saturn("--insecure-options=image,http", "run", "--net=none", app)
	if r.Code != 0 {
		t.Fatalf("run: %s", r)
	}
	if got := appLines(r.Stdout+r.Stderr, "app"); !slices.Equal(got, wantCheck) {
		t.Errorf("the app printed\n%q\nwant\n%q", got, wantCheck)
	}

	// The second image shares the base layer: it is not downloaded again.
	appLayers, otherLayers := l.layerDigests("app"), l.layerDigests("other")
	if appLayers[0] != otherLayers[0] || len(appLayers) != 3 {
		t.Fatalf("layers app %v other %v: want 3 for app, the first shared", appLayers, otherLayers)
	}
	e.mustSaturn("--insecure-options=image,http", "fetch", reg.Ref("test/other:v1"))
	base := "/v2/test/(app|other)/blobs/" + appLayers[0]
	if n := reg.gets(base); n != 1 {
		t.Errorf("the shared base layer was downloaded %d times, want once", n)
	}
	if n := reg.gets("/v2/test/other/blobs/" + otherLayers[1]); n != 1 {
		t.Errorf("other's own layer was downloaded %d times, want once", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.Dir, "cas/layers")); len(ents) != 4 {
		t.Errorf("the store holds %d layer blobs, want 4 (3 of app, 1 more of other)", len(ents))
	}

	// A tag whose digest did not change is not downloaded again.
	manifests := reg.gets("/v2/test/app/manifests/v1")
	r = e.saturn("--insecure-options=image,http", "fetch", "--pull-policy=update", "--full", app)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != id || !strings.Contains(r.Stderr, "unchanged") {
		t.Errorf("refetch with --pull-policy=update: %s", r)
	}
	if n := reg.gets("/v2/test/app/manifests/v1"); n != manifests {
		t.Errorf("the unchanged manifest was downloaded again (%d GETs, before %d)", n, manifests)
	}
	if n := reg.gets(base); n != 1 {
		t.Errorf("the base layer was downloaded again (%d GETs)", n)
	}

	// By digest, into a fresh store: no --insecure-options=image needed.
	d := reg.digest("test/app:v1")
	e2 := newEnv(t)
	byDigest := reg.Ref("test/app@" + d)
	if got := strings.TrimSpace(e2.mustSaturn("--insecure-options=http", "fetch", "--full", byDigest)); got != id {
		t.Errorf("fetch by digest gave %s, by tag %s", got, id)
	}
	r = e2.saturn("--insecure-options=http", "run", "--net=none", byDigest, "--exec=/bin/cat", "--", "/data/new")
	if got := appLines(r.Stdout+r.Stderr, "app"); r.Code != 0 || !slices.Equal(got, []string{"new"}) {
		t.Errorf("run by digest with --exec: %q\n%s", got, r)
	}

	e.failSaturn("tag nope not found in "+reg.Host+"/test/app", "--insecure-options=image,http", "fetch", reg.Ref("test/app:nope"))

	// The same image with a Docker schema 2 manifest and Docker media
	// types: another manifest, so another image id, but the same layers,
	// which e2 holds already.
	reg.push(l.Dir, "app", "test/schema2:v1", "--format=v2s2")
	if _, mt := reg.head("test/schema2:v1"); mt != "application/vnd.docker.distribution.manifest.v2+json" {
		t.Fatalf("skopeo --format=v2s2 pushed a %s manifest", mt)
	}
	r = e2.saturn("--insecure-options=image,http", "run", "--net=none", reg.Ref("test/schema2:v1"))
	if got := appLines(r.Stdout+r.Stderr, "schema2"); r.Code != 0 || !slices.Equal(got, wantCheck) {
		t.Errorf("schema 2 image: %q\n%s", got, r)
	}
	if n := reg.gets("/v2/test/schema2/blobs/" + appLayers[0]); n != 0 {
		t.Errorf("the schema 2 image's base layer was downloaded again (%d GETs)", n)
	}
}

// registryEnv is an env that trusts reg's CA and, with auth, has its
// credentials in a dockerAuth file.
func registryEnv(t *testing.T, reg *testRegistry, auth bool) *env {
	t.Helper()
	e := newEnv(t)
	writeTestFile(t, filepath.Join(e.LocalConfig, "certs.d", "registry-ca.pem"), reg.caPEM)
	if auth {
		writeTestFile(t, filepath.Join(e.LocalConfig, "auth.d", "registry.json"), []byte(`{"rktKind":"dockerAuth","rktVersion":"v1",
			"registries":["`+reg.Host+`"],"credentials":{"user":"`+reg.User+`","password":"`+reg.Password+`"}}`))
	}
	return e
}

// corrupt rewrites the file at p with change applied, and restores it
// when the test ends.
func corrupt(t *testing.T, p string, change func([]byte) []byte) {
	t.Helper()
	orig, err := os.ReadFile(p)
	must(t, err)
	must(t, os.WriteFile(p, change(bytes.Clone(orig)), 0o644))
	t.Cleanup(func() { os.WriteFile(p, orig, 0o644) })
}

func TestOCIRegistryTLSBasicAuth(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t, e, true)
	l := pushTestImages(t, reg)
	app := reg.Ref("test/app:v1")

	// No credentials: the registry's 401, in one line, nothing stored.
	r := e.failSaturn("refused access to test/app (401 Unauthorized): check the dockerAuth credentials for "+reg.Host, "--insecure-options=image", "fetch", app)
	if strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
		t.Errorf("the 401 takes more than a line:\n%s", r.Stderr)
	}
	storeEmpty(t, e)

	e = registryEnv(t, reg, true)
	r = e.saturn("--insecure-options=image", "run", "--net=none", app)
	if got := appLines(r.Stdout+r.Stderr, "app"); r.Code != 0 || !slices.Equal(got, wantCheck) {
		t.Errorf("run over TLS with basic auth: %q\n%s", got, r)
	}
	e.failSaturn("tag nope not found", "--insecure-options=image", "fetch", reg.Ref("test/app:nope"))

	// A layer damaged at the registry, then cut short: refused, nothing
	// stored.
	own := l.layerDigests("other")[1]
	bad := registryEnv(t, reg, true)
	corrupt(t, reg.blobPath(own), func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b })
	bad.failSaturn("layer "+own+": digest mismatch: content hashes to", "--insecure-options=image", "fetch", reg.Ref("test/other:v1"))
	storeEmpty(t, bad)
	corrupt(t, reg.blobPath(own), func(b []byte) []byte { return b[:len(b)/2] })
	r = bad.saturn("--insecure-options=image", "fetch", reg.Ref("test/other:v1"))
	if r.Code == 0 || !strings.Contains(r.Stderr, own) || !(strings.Contains(r.Stderr, "truncated") || strings.Contains(r.Stderr, "unexpected EOF")) {
		t.Errorf("truncated layer: %s", r)
	}
	storeEmpty(t, bad)

	// A manifest changed at the registry, by tag and by digest.
	d := reg.digest("test/app:v1")
	corrupt(t, reg.blobPath(d), func(b []byte) []byte { return append(b, ' ') })
	for _, ref := range []string{app, reg.Ref("test/app@" + d)} {
		bad.failSaturn("digest mismatch", "--insecure-options=image", "fetch", ref)
		storeEmpty(t, bad)
	}
}

// badLayout is a layout whose image "bad" is a small layer and layer.
func badLayout(t *testing.T, layer []byte) *ociLayout {
	l := newOCILayout(t)
	l.layer("", "bad", func(rootfs string) {
		writeTestFile(t, filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\n"))
	})
	l.rawLayer("bad", layer)
	return l
}

func TestOCIBadLayersRefused(t *testing.T) {
	e := newEnv(t)
	outside := t.TempDir()
	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	for _, h := range []*tar.Header{
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: outside},
		{Name: "link/escaped", Typeflag: tar.TypeReg, Mode: 0o644},
	} {
		must(t, tw.WriteHeader(h))
	}
	must(t, tw.Close())
	for _, tt := range []struct {
		name, want string
		layer      []byte
	}{
		{"dotdot", `entry name "../escaped" contains ".."`, rawTar(t, "../escaped")},
		{"symlink", `entry "link/escaped" lies below the symlink link -> ` + outside, evil.Bytes()},
	} {
		l := badLayout(t, tt.layer)
		r := e.failSaturn(tt.want, "--insecure-options=image", "fetch", "oci:"+l.image("bad"))
		if n := strings.Count(strings.TrimSpace(r.Stderr), "\n"); n > 1 {
			t.Errorf("%s: error of %d lines:\n%s", tt.name, n+1, r.Stderr)
		}
		storeEmpty(t, e)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("a layer wrote outside: %v", ents)
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(e.Dir), "escaped")); err == nil {
		t.Error("a layer wrote ../escaped")
	}

	// A layer of a media type saturn does not know.
	l := newOCILayout(t)
	l.layer("", "odd", func(rootfs string) { writeTestFile(t, filepath.Join(rootfs, "f"), nil) })
	idx, err := os.ReadFile(filepath.Join(l.Dir, "index.json"))
	must(t, err)
	var manifest string
	for _, part := range strings.Split(string(idx), `"digest":"sha256:`)[1:] {
		manifest = part[:64]
	}
	p := filepath.Join(l.Dir, "blobs/sha256", manifest)
	m, err := os.ReadFile(p)
	must(t, err)
	m = bytes.Replace(m, []byte("application/vnd.oci.image.layer.v1.tar+gzip"), []byte("application/vnd.example.layer+lz4"), 1)
	newDigest := writeBlob(t, l.Dir, m)
	must(t, os.WriteFile(filepath.Join(l.Dir, "index.json"), bytes.Replace(idx, []byte(manifest), []byte(newDigest), 1), 0o644))
	e.failSaturn(`unknown layer media type "application/vnd.example.layer+lz4"`, "--insecure-options=image", "fetch", "oci:"+l.image("odd"))
	storeEmpty(t, e)
}

// writeBlob adds b to the layout's blobs and returns its hex digest.
func writeBlob(t *testing.T, layout string, b []byte) string {
	t.Helper()
	sum := sha256.Sum256(b)
	d := hex.EncodeToString(sum[:])
	writeTestFile(t, filepath.Join(layout, "blobs/sha256", d), b)
	return d
}

func TestOCILocalSources(t *testing.T) {
	e := newEnv(t)
	l := testImages(t)
	archive := filepath.Join(t.TempDir(), "app-oci.tar")
	if out, err := exec.Command("tar", "-C", l.Dir, "-cf", archive, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	saved := filepath.Join(t.TempDir(), "app-docker.tar")
	if out, err := exec.Command("skopeo", "copy", "--quiet", "oci:"+l.image("app"), "docker-archive:"+saved+":example.com/test/app:v1").CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy to docker-archive: %v: %s", err, out)
	}
	for _, ref := range []string{"oci:" + l.image("app"), "oci-archive:" + archive + ":app", "docker-archive:" + saved, "docker-archive:" + saved + ":example.com/test/app:v1"} {
		e.mustSaturn("--insecure-options=image", "fetch", ref)
		r := e.saturn("--insecure-options=image", "run", "--net=none", ref)
		if got := appLines(r.Stdout+r.Stderr, appName(ref)); r.Code != 0 || !slices.Equal(got, wantCheck) {
			t.Errorf("%s: %q\n%s", ref, got, r)
		}
	}
	e.failSaturn(`no image named "nope"`, "--insecure-options=image", "fetch", "oci:"+l.image("nope"))

	// An image that expands beyond --max-image-size is refused, with
	// nothing stored.
	e2 := newEnv(t)
	e2.failSaturn("image too large: it expands to more than 1048576 bytes", "--insecure-options=image", "--max-image-size=1MiB", "fetch", "oci:"+l.image("app"))
	storeEmpty(t, e2)
}

// appName is the app name saturn gives an image of ref: the last
// component of its appc name.
func appName(ref string) string {
	switch {
	case strings.HasPrefix(ref, "docker-archive:"):
		return "app" // from the archive's RepoTags
	case strings.HasPrefix(ref, "oci-archive:"):
		return "app-oci-tar" // the file's name
	}
	return "layout" // the directory's name
}

func TestOCIMixedPodSeesEachOther(t *testing.T) {
	e := newEnv(t)
	l := testImages(t)
	bb := testimg.Busybox(t, testimg.Options{})
	// Each app waits until it sees the other's process, by a mark in its
	// command line, so both print only if they share a PID namespace.
	see := func(mark, other string) []string {
		return []string{"--exec=/bin/sh", "--", "-c", `m=` + mark + `; for i in $(seq 600); do for f in /proc/[0-9]*/cmdline; do if grep -q ` + other + ` $f 2>/dev/null; then echo sees-` + other + `; sleep 1; exit 0; fi; done; sleep 0.1; done; exit 1`}
	}
	args := []string{"--insecure-options=image", "run", "--net=none", bb}
	args = append(args, see("mark-aci", "mark-docker")...)
	args = append(args, "---", "oci:"+l.image("app"), "--name=docker", "--environment=EXTRA=set")
	args = append(args, see("mark-docker", "mark-aci")...)
	r := e.saturn(args...)
	if r.Code != 0 {
		t.Fatalf("mixed pod: %s", r)
	}
	if got := appLines(r.Stdout+r.Stderr, "busybox"); !slices.Equal(got, []string{"sees-mark-docker"}) {
		t.Errorf("the ACI app printed %q", got)
	}
	if got := appLines(r.Stdout+r.Stderr, "docker"); !slices.Equal(got, []string{"sees-mark-aci"}) {
		t.Errorf("the Docker app printed %q", got)
	}
}

func TestOCIImageCommands(t *testing.T) {
	e := newEnv(t)
	l := testImages(t)
	app, other := "oci:"+l.image("app"), "oci:"+l.image("other")
	id := strings.TrimSpace(e.mustSaturn("--insecure-options=image", "fetch", "--full", app))
	e.mustSaturn("--insecure-options=image", "fetch", other)

	// cat-manifest: the image config; --appc: the app saturn runs.
	if out := e.mustSaturn("image", "cat-manifest", app); !strings.Contains(out, `"Entrypoint"`) || !strings.Contains(out, `"diff_ids"`) {
		t.Errorf("cat-manifest is not the image config:\n%s", out)
	}
	out := e.mustSaturn("image", "cat-manifest", "--appc", id)
	for _, want := range []string{`"acKind": "ImageManifest"`, `"user": "tester"`, `"group": "1000"`, `"name": "80-tcp"`, `"name": "volume-vol"`, `"org.example.team"`, `"workingDirectory": "/data"`} {
		if !strings.Contains(out, want) {
			t.Errorf("cat-manifest --appc lacks %s:\n%s", want, out)
		}
	}

	// render and extract give the applied layers; export gives an ACI
	// that runs like the image.
	for _, verb := range []string{"render", "extract"} {
		dir := filepath.Join(t.TempDir(), verb)
		e.mustSaturn("image", verb, app, dir)
		if _, err := os.Stat(filepath.Join(dir, "rootfs/data/old")); err == nil {
			t.Errorf("image %s: the deleted file is there", verb)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "rootfs/data/change")); string(b) != "v2" {
			t.Errorf("image %s: data/change = %q", verb, b)
		}
	}
	aciFile := filepath.Join(t.TempDir(), "app.aci")
	e.mustSaturn("image", "export", app, aciFile)
	e2 := newEnv(t)
	r := e2.saturn("--insecure-options=image", "run", "--net=none", aciFile)
	if got := appLines(r.Stdout+r.Stderr, "layout"); r.Code != 0 || !slices.Equal(got, wantCheck) {
		t.Errorf("the exported ACI: %q\n%s", got, r)
	}

	// verify: fine, then a layer damaged on disk.
	e.mustSaturn("image", "verify")
	layers, err := filepath.Glob(filepath.Join(e.Dir, "cas/layers/sha256-*"))
	must(t, err)
	own := l.layerDigests("app")[1]
	victim := filepath.Join(e.Dir, "cas/layers", strings.Replace(own, ":", "-", 1))
	corrupt(t, victim, func(b []byte) []byte { b[len(b)/3] ^= 1; return b })
	r = e.saturn("image", "verify")
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "layer "+own) || !strings.Contains(r.Stdout+r.Stderr, "damaged") {
		t.Errorf("image verify of a damaged layer: %s", r)
	}
	e.failSaturn("blob corrupted on disk", "image", "render", app, filepath.Join(t.TempDir(), "r"))

	// rm keeps the layer the other image shares, drops the rest; gc then
	// removes the other image and every layer.
	e.mustSaturn("image", "rm", app)
	left, err := filepath.Glob(filepath.Join(e.Dir, "cas/layers/sha256-*"))
	must(t, err)
	if len(layers) != 4 || len(left) != 2 {
		t.Errorf("layers before rm %d (want 4), after %d (want other's 2)", len(layers), len(left))
	}
	e.mustSaturn("image", "gc", "--grace-period=0s")
	storeEmpty(t, e)
}

func TestOCIRegistryMirrorsAndInsecureFromConfig(t *testing.T) {
	e := newEnv(t)
	origin, mirror := startRegistry(t, e, false), startRegistry(t, e, false)
	l := testImages(t)
	origin.push(l.Dir, "app", "test/app:v1")
	mirror.push(l.Dir, "app", "test/app:v1")
	origin.push(l.Dir, "other", "test/other:v1")
	writeTestFile(t, filepath.Join(e.LocalConfig, "registries.d", "origin.json"), []byte(`{"saturnKind":"dockerRegistry","saturnVersion":"v1",
		"registries":["`+origin.Host+`"],"mirrors":["`+mirror.Host+`"],"insecure":true}`))

	// Plain http is allowed by the configuration alone, and the mirror
	// serves the image.
	r := e.saturn("--insecure-options=image", "run", "--net=none", origin.Ref("test/app:v1"))
	if got := appLines(r.Stdout+r.Stderr, "app"); r.Code != 0 || !slices.Equal(got, wantCheck) {
		t.Fatalf("run through the mirror: %q\n%s", got, r)
	}
	if at, from := mirror.gets("/v2/test/app/blobs/sha256:[0-9a-f]+"), origin.gets("/v2/test/app/blobs/sha256:[0-9a-f]+"); at == 0 || from != 0 {
		t.Errorf("blobs from the mirror %d, from the registry %d: want all from the mirror", at, from)
	}
	// What the mirror lacks comes from the registry.
	e.mustSaturn("--insecure-options=image", "fetch", origin.Ref("test/other:v1"))
	if n := origin.gets("/v2/test/other/blobs/" + l.layerDigests("other")[1]); n != 1 {
		t.Errorf("other's layer came %d times from the registry, want once", n)
	}
	if out := e.mustSaturn("config"); !strings.Contains(out, `"mirrors"`) || !strings.Contains(out, mirror.Host) {
		t.Errorf("saturn config does not show the mirror:\n%s", out)
	}
}

func TestOCIPerAppFlagsAndVolumes(t *testing.T) {
	e := newEnv(t)
	l := testImages(t)
	host := t.TempDir()
	// The image's Volumes entry /vol is the mount point volume-vol; the
	// per-app flags override its user, environment and command.
	r := e.saturn("--insecure-options=image", "run", "--net=none", "--volume=volume-vol,kind=host,source="+host,
		"oci:"+l.image("app"), "--user=0", "--group=0", "--environment=FOO=flag", "--exec=/bin/sh", "--",
		"-c", "echo user=$(id -u):$(id -g) foo=$FOO pwd=$(pwd); echo written > /vol/out")
	if got := appLines(r.Stdout+r.Stderr, "layout"); r.Code != 0 || !slices.Equal(got, []string{"user=0:0 foo=flag pwd=/data"}) {
		t.Errorf("per-app flags: %q\n%s", got, r)
	}
	if b, err := os.ReadFile(filepath.Join(host, "out")); err != nil || string(b) != "written\n" {
		t.Errorf("the image's volume did not reach the host directory: %q, %v", b, err)
	}
}
