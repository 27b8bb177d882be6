package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/tests/testimg"
	"github.com/saturn-pods/saturn/trust/gpgtest"
)

// serverSeq gives every image server of this test binary its own loopback
// address, so each can listen on port 443, where appc discovery looks.
var serverSeq atomic.Int32

// imageServer is a real HTTPS server on a loopback address with a
// certificate from a CA the test made; saturn trusts that CA through
// <local-config>/certs.d, never by switching TLS checks off. It serves
// appc discovery pages for its whole host and whatever files a test puts.
type imageServer struct {
	t    *testing.T
	Host string // the loopback IP, also the image name prefix

	mu     sync.Mutex
	files  map[string][]byte
	maxAge map[string]int
	// auth, when set, is the Authorization header /private/ paths need.
	auth     string
	requests map[string]int // by path, every request
	gets     map[string]int // by path, answered 200
	notMod   map[string]int // by path, answered 304
	// accepted is how many more times a path is answered 202 Accepted
	// (a signature the server is still making) before it is served.
	accepted map[string]int
}

// newImageServer starts a server and installs its CA in e's local config.
func newImageServer(t *testing.T, e *env) *imageServer {
	t.Helper()
	n := serverSeq.Add(1)
	host := fmt.Sprintf("127.77.%d.%d", os.Getpid()%250+1, n)
	s := &imageServer{t: t, Host: host, files: map[string][]byte{}, maxAge: map[string]int{},
		requests: map[string]int{}, gets: map[string]int{}, notMod: map[string]int{}, accepted: map[string]int{}}
	caPEM, cert := makeCerts(t, host)
	if err := os.MkdirAll(filepath.Join(e.LocalConfig, "certs.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.LocalConfig, "certs.d", "test-ca.pem"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "443"))
	if err != nil {
		t.Fatalf("listen on %s:443 (root needed): %v", host, err)
	}
	srv := &http.Server{Handler: s, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		ErrorLog: log.New(io.Discard, "", 0)} // refused handshakes are expected
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return s
}

// makeCerts makes a CA and a server certificate for ip signed by it.
func makeCerts(t *testing.T, ip string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "saturn test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (s *imageServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.URL.Path]++
	if r.URL.Query().Get("ac-discovery") == "1" {
		fmt.Fprintf(w, "<html><head>\n"+
			"<meta name=\"ac-discovery\" content=\"%[1]s https://%[1]s/images/{name}-{version}-{os}-{arch}.{ext}\">\n"+
			"<meta name=\"ac-discovery\" content=\"%[1]s https://%[1]s/images/{name}-latest-{os}-{arch}.{ext}\">\n"+
			"<meta name=\"ac-discovery-pubkeys\" content=\"%[1]s https://%[1]s/pubkeys.asc\">\n"+
			"</head></html>\n", s.Host)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/private/") && r.Header.Get("Authorization") != s.auth {
		http.Error(w, "who are you?", http.StatusUnauthorized)
		return
	}
	if s.accepted[r.URL.Path] > 0 {
		s.accepted[r.URL.Path]--
		w.WriteHeader(http.StatusAccepted)
		return
	}
	data, ok := s.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if age := s.maxAge[r.URL.Path]; age > 0 {
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", age))
	}
	if r.Header.Get("If-None-Match") == etag {
		s.notMod[r.URL.Path]++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.gets[r.URL.Path]++
	w.Write(data)
}

// put serves data at path (and path.asc from sigPath when not "").
func (s *imageServer) put(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = data
}

func (s *imageServer) putFile(path, file string) {
	s.t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		s.t.Fatal(err)
	}
	s.put(path, data)
}

// counts returns the 200s and 304s served for path, and all requests.
func (s *imageServer) counts(path string) (gets, notModified, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.requests {
		total += n
	}
	return s.gets[path], s.notMod[path], total
}

// imagePath is where discovery finds name at version on this server.
func (s *imageServer) imagePath(name, version string) string {
	return fmt.Sprintf("/images/%s-%s-linux-%s.aci", name, version, appcArch())
}

func appcArch() string {
	_, arch, _ := types.ToAppcOSArch("linux", runtime.GOARCH, "")
	return arch
}

// publish serves a signed image for discovery: the ACI and its .asc.
func (s *imageServer) publish(name, version, aciFile, sigFile string) {
	s.t.Helper()
	p := s.imagePath(name, version)
	s.putFile(p, aciFile)
	if sigFile != "" {
		s.putFile(p+".asc", sigFile)
	}
}

// casBlobs lists the image blobs in e's store: the proof that nothing
// was stored.
func casBlobs(t *testing.T, e *env) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.Dir, "cas", "blobs"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, de := range ents {
		out = append(out, de.Name())
	}
	return out
}

// signed builds a busybox image with o and signs it with key fpr.
func signed(t *testing.T, g *gpgtest.GPG, fpr string, o testimg.Options) (aciFile, sigFile string) {
	t.Helper()
	aciFile = testimg.Busybox(t, o)
	return aciFile, g.Sign(fpr, aciFile)
}

// signedTestApp builds a test-app image with o and signs it with fpr.
func signedTestApp(t *testing.T, g *gpgtest.GPG, fpr string, o testimg.Options) (aciFile, sigFile string) {
	t.Helper()
	aciFile = testimg.TestApp(t, o)
	return aciFile, g.Sign(fpr, aciFile)
}

// trustKey trusts the key fpr for prefix through the saturn CLI.
func trustKey(t *testing.T, e *env, g *gpgtest.GPG, fpr, prefix string) {
	t.Helper()
	key := g.ExportFile(fpr, t.TempDir())
	e.mustSaturn("trust", "--prefix="+prefix, "--skip-fingerprint-review", key)
}

func TestRemoteDiscoverySignedWithDependency(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	g := gpgtest.New(t)
	fpr := g.GenKey("Publisher <publisher@example.com>", "never")
	baseName, appName := srv.Host+"/base", srv.Host+"/app"
	// Compressed images are verified as served, before decompression.
	baseACI, baseSig := signed(t, g, fpr, testimg.Options{Name: baseName, Version: "1.0.0", NoApp: true, Compression: aci.Gzip,
		Files: map[string]string{"/etc/from-base": "base\n"}})
	appACI, appSig := signedTestApp(t, g, fpr, testimg.Options{Name: appName, Version: "2.0.0", Compression: aci.Xz,
		Modify: func(m *schema.ImageManifest) {
			m.Dependencies = types.Dependencies{{ImageName: types.ACIdentifier(baseName),
				Labels: types.Labels{{Name: "version", Value: "1.0.0"}}}}
		}})
	srv.publish(baseName, "1.0.0", baseACI, baseSig)
	srv.publish(appName, "2.0.0", appACI, appSig)
	trustKey(t, e, g, fpr, srv.Host)

	r := e.saturn("fetch", "--full", appName+":2.0.0")
	if r.Code != 0 {
		t.Fatalf("fetch by name: %s", r)
	}
	if got, want := strings.TrimSpace(r.Stdout), aciID(t, appACI); got != want {
		t.Fatalf("fetch printed %q, want %s", got, want)
	}
	if n := strings.Count(r.Stderr, "signature verified"); n != 2 {
		t.Errorf("want the image and its dependency verified, stderr:\n%s", r.Stderr)
	}
	// The dependency is in the store under its name and version.
	got := strings.TrimSpace(e.mustSaturn("fetch", "--full", "--pull-policy=never", baseName+":1.0.0"))
	if got != aciID(t, baseACI) {
		t.Fatalf("dependency in store as %q, want %s", got, aciID(t, baseACI))
	}
	out := filepath.Join(t.TempDir(), "rendered")
	e.mustSaturn("image", "render", appName, out)
	for _, p := range []string{"rootfs/etc/from-base", "rootfs/testapp"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("app over its dependency not rendered: %v", err)
		}
	}
}

func TestRemoteRefusesBadSignatures(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	g := gpgtest.New(t)
	good := g.GenKey("Good <good@example.com>", "never")
	stranger := g.GenKey("Stranger <stranger@example.com>", "never")
	elsewhere := g.GenKey("Elsewhere <elsewhere@example.com>", "never")
	trustKey(t, e, g, good, srv.Host+"/good")
	trustKey(t, e, g, elsewhere, srv.Host+"/other")

	tampered := srv.Host + "/good/tampered"
	aci, sig := signed(t, g, good, testimg.Options{Name: tampered})
	other := testimg.Busybox(t, testimg.Options{Name: tampered, Files: map[string]string{"/evil": "x"}})
	srv.publish(tampered, "1.0.0", other, sig)
	_ = aci

	untrusted := srv.Host + "/good/untrusted"
	aci, sig = signed(t, g, stranger, testimg.Options{Name: untrusted})
	srv.publish(untrusted, "1.0.0", aci, sig)

	wrongPrefix := srv.Host + "/good/wrongprefix"
	aci, sig = signed(t, g, elsewhere, testimg.Options{Name: wrongPrefix})
	srv.publish(wrongPrefix, "1.0.0", aci, sig)

	// Served where version 1.0.0 belongs, but says it is 9.9.9.
	mislabeled := srv.Host + "/good/mislabeled"
	aci, sig = signed(t, g, good, testimg.Options{Name: mislabeled, Version: "9.9.9"})
	srv.publish(mislabeled, "1.0.0", aci, sig)

	unsigned := srv.Host + "/good/unsigned"
	unsignedACI := testimg.Busybox(t, testimg.Options{Name: unsigned})
	srv.publish(unsigned, "1.0.0", unsignedACI, "")

	cases := []struct {
		name, image, want string
	}{
		// rkt's words first, saturn's detail after them.
		{"tampered", tampered, `verification failed: openpgp: invalid signature: the signature by key`},
		{"untrusted key", untrusted, `verification failed: openpgp: signature made by unknown entity (key`},
		{"key of another prefix", wrongPrefix, "trusted only for prefix " + srv.Host + "/other"},
		{"unsigned", unsigned, "--insecure-options=image"},
		{"labels differ from the discovery", mislabeled, `label version="9.9.9" (want "1.0.0")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.failSaturn(c.want, "fetch", c.image+":1.0.0")
			if !strings.Contains(r.Stderr, c.image) {
				t.Errorf("error does not name the image %s:\n%s", c.image, r.Stderr)
			}
			if blobs := casBlobs(t, e); len(blobs) != 0 {
				t.Fatalf("refused fetch stored %v", blobs)
			}
			if out := e.mustSaturn("image", "list", "--no-legend"); strings.TrimSpace(out) != "" {
				t.Fatalf("refused fetch listed images:\n%s", out)
			}
		})
	}
	// Unsigned is accepted when signature checks are switched off.
	got := strings.TrimSpace(e.mustSaturn("--insecure-options=image", "fetch", "--full", unsigned+":1.0.0"))
	if got != aciID(t, unsignedACI) {
		t.Fatalf("unsigned fetch = %q, want %s", got, aciID(t, unsignedACI))
	}
}

func TestRemotePullPolicies(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	g := gpgtest.New(t)
	fpr := g.GenKey("Policy <policy@example.com>", "never")
	trustKey(t, e, g, fpr, srv.Host)
	name := srv.Host + "/policy"
	v1, v1sig := signed(t, g, fpr, testimg.Options{Name: name, Version: "1.0.0"})
	srv.publish(name, "1.0.0", v1, v1sig)
	path := srv.imagePath(name, "1.0.0")
	ref := name + ":1.0.0"
	fetchID := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(e.mustSaturn(append([]string{"fetch", "--full"}, args...)...))
	}
	check := func(what string, wantGets, wantNotMod int) int {
		t.Helper()
		gets, notMod, total := srv.counts(path)
		if gets != wantGets || notMod != wantNotMod {
			t.Fatalf("%s: server saw %d downloads and %d revalidations of %s, want %d and %d", what, gets, notMod, path, wantGets, wantNotMod)
		}
		return total
	}

	e.failSaturn("not found in the store", "fetch", "--pull-policy=never", ref)
	if _, _, total := srv.counts(path); total != 0 {
		t.Fatalf("--pull-policy=never made %d requests", total)
	}
	if id := fetchID("--pull-policy=update", ref); id != aciID(t, v1) {
		t.Fatalf("first fetch = %s", id)
	}
	check("first fetch", 1, 0)
	// update revalidates: a 304 is not a download.
	fetchID("--pull-policy=update", ref)
	total := check("update", 1, 1)
	for _, policy := range []string{"new", "never"} {
		if id := fetchID("--pull-policy="+policy, ref); id != aciID(t, v1) {
			t.Fatalf("--pull-policy=%s = %s", policy, id)
		}
		if _, _, now := srv.counts(path); now != total {
			t.Fatalf("--pull-policy=%s asked the server (%d requests, was %d)", policy, now, total)
		}
	}
	// A new image at the same URL is downloaded and verified by update only.
	v2, v2sig := signed(t, g, fpr, testimg.Options{Name: name, Version: "1.0.0", Files: map[string]string{"/etc/v2": "2"}})
	srv.publish(name, "1.0.0", v2, v2sig)
	if id := fetchID("--pull-policy=new", ref); id != aciID(t, v1) {
		t.Fatalf("new policy picked up the changed image")
	}
	if id := fetchID("--pull-policy=update", ref); id != aciID(t, v2) {
		t.Fatalf("update = %s, want the changed image %s", id, aciID(t, v2))
	}
	check("update after change", 2, 1)

	// By URL, a fresh Cache-Control max-age answer is not asked again.
	urlPath := "/direct/cached.aci"
	srv.putFile(urlPath, v1)
	srv.putFile(urlPath+".asc", v1sig)
	srv.mu.Lock()
	srv.maxAge[urlPath] = 3600
	srv.mu.Unlock()
	u := "https://" + srv.Host + urlPath
	fetchID("--pull-policy=update", u)
	fetchID("--pull-policy=update", u)
	if gets, notMod, _ := srv.counts(urlPath); gets != 1 || notMod != 0 {
		t.Fatalf("max-age: %d downloads, %d revalidations, want 1 and 0", gets, notMod)
	}
}

func TestRemoteTrustKeysFromHTTPS(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	g := gpgtest.New(t)
	fpr := g.GenKey("Discovered <discovered@example.com>", "never")
	srv.put("/pubkeys.asc", g.Export(fpr))
	name := srv.Host + "/auto"
	aci, sig := signed(t, g, fpr, testimg.Options{Name: name})
	srv.publish(name, "1.0.0", aci, sig)

	// Off unless asked for, and the help says so.
	help := e.mustSaturn("fetch", "--help")
	var line string
	for _, l := range strings.Split(help, "\n") {
		if strings.Contains(l, "--trust-keys-from-https") {
			line = l
		}
	}
	if !strings.Contains(line, "default false") {
		t.Errorf("--trust-keys-from-https help does not give its default: %q", line)
	}
	// Without the flag and without a terminal to ask, nothing is trusted.
	e.failSaturn("no keys are trusted", "fetch", name+":1.0.0")
	if blobs := casBlobs(t, e); len(blobs) != 0 {
		t.Fatalf("refused fetch stored %v", blobs)
	}
	r := e.saturn("--trust-keys-from-https", "fetch", name+":1.0.0")
	if r.Code != 0 {
		t.Fatalf("fetch --trust-keys-from-https: %s", r)
	}
	key := filepath.Join(e.LocalConfig, "trustedkeys/prefix.d", name, fpr)
	if _, err := os.Stat(key); err != nil {
		t.Fatalf("discovered key not stored in rkt's layout: %v", err)
	}
}

func TestRemoteTLSNeedsTrustedCA(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	aci := testimg.Busybox(t, testimg.Options{Name: srv.Host + "/tls"})
	srv.putFile("/tls.aci", aci)
	u := "https://" + srv.Host + "/tls.aci"
	if err := os.Remove(filepath.Join(e.LocalConfig, "certs.d", "test-ca.pem")); err != nil {
		t.Fatal(err)
	}
	e.failSaturn("certificate", "--insecure-options=image", "fetch", u)
	id := strings.TrimSpace(e.mustSaturn("--insecure-options=image,tls", "fetch", "--full", u))
	if id != aciID(t, aci) {
		t.Fatalf("fetch with tls checks off = %s", id)
	}
}

// aciID is the image id of an ACI file, as saturn prints it with --full.
func aciID(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := aci.Validate(f)
	if err != nil {
		t.Fatalf("image %s: %v", path, err)
	}
	return img.ID
}

func TestRemoteAuthFromConfig(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	srv.mu.Lock()
	srv.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	srv.mu.Unlock()
	img := testimg.Busybox(t, testimg.Options{Name: srv.Host + "/private"})
	srv.putFile("/private/image.aci", img)
	u := "https://" + srv.Host + "/private/image.aci"
	e.failSaturn("401", "--insecure-options=image", "fetch", u)
	conf := fmt.Sprintf(`{"rktKind": "auth", "rktVersion": "v1", "domains": [%q], "type": "basic", "credentials": {"user": "alice", "password": "s3cret"}}`, srv.Host)
	if err := os.MkdirAll(filepath.Join(e.LocalConfig, "auth.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.LocalConfig, "auth.d", "test.json"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(e.mustSaturn("--insecure-options=image", "fetch", "--full", u))
	if id != aciID(t, img) {
		t.Fatalf("fetch with credentials = %q, want %s", id, aciID(t, img))
	}
}

func TestRemoteLocalFileFetchesDiscoveredDependency(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	g := gpgtest.New(t)
	fpr := g.GenKey("Deps <deps@example.com>", "never")
	baseName := srv.Host + "/base"
	baseACI, baseSig := signed(t, g, fpr, testimg.Options{Name: baseName, Version: "1.0.0", NoApp: true,
		Files: map[string]string{"/etc/from-base": "base\n"}})
	srv.publish(baseName, "1.0.0", baseACI, baseSig)
	// The app is a local file; its dependency exists only on the server.
	appACI, _ := signedTestApp(t, g, fpr, testimg.Options{Name: srv.Host + "/local-app",
		Modify: func(m *schema.ImageManifest) {
			m.Dependencies = types.Dependencies{{ImageName: types.ACIdentifier(baseName),
				Labels: types.Labels{{Name: "version", Value: "1.0.0"}}}}
		}})
	trustKey(t, e, g, fpr, srv.Host)

	r := e.saturn("fetch", "--full", appACI)
	if r.Code != 0 {
		t.Fatalf("fetch of a local file with a discovered dependency: %s", r)
	}
	if got := strings.TrimSpace(r.Stdout); got != aciID(t, appACI) {
		t.Fatalf("fetch printed %q, want %s", got, aciID(t, appACI))
	}
	if n := strings.Count(r.Stderr, "signature verified"); n != 2 {
		t.Errorf("want the file and its dependency verified, stderr:\n%s", r.Stderr)
	}
	if gets, _, _ := srv.counts(srv.imagePath(baseName, "1.0.0")); gets != 1 {
		t.Errorf("dependency downloaded %d times, want once", gets)
	}
	got := strings.TrimSpace(e.mustSaturn("fetch", "--full", "--pull-policy=never", baseName+":1.0.0"))
	if got != aciID(t, baseACI) {
		t.Fatalf("dependency in store as %q, want %s", got, aciID(t, baseACI))
	}
	// Both came with signatures, which image verify checks again.
	if out := e.mustSaturn("image", "verify"); strings.Count(out, "Deps <deps@example.com>") != 2 {
		t.Errorf("image verify does not show both images signed:\n%s", out)
	}
}

func TestRemotePinnedDependencyMismatch(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	g := gpgtest.New(t)
	fpr := g.GenKey("Pinned <pinned@example.com>", "never")
	trustKey(t, e, g, fpr, srv.Host)
	baseName := srv.Host + "/pinned-base"
	wanted := testimg.Busybox(t, testimg.Options{Name: baseName, Version: "1.0.0", NoApp: true})
	// Discovery serves another image under the same name and version.
	served, servedSig := signed(t, g, fpr, testimg.Options{Name: baseName, Version: "1.0.0", NoApp: true,
		Files: map[string]string{"/etc/other": "other\n"}})
	srv.publish(baseName, "1.0.0", served, servedSig)
	pin, err := types.NewHash(aciID(t, wanted))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := signedTestApp(t, g, fpr, testimg.Options{Name: srv.Host + "/pinned-app",
		Modify: func(m *schema.ImageManifest) {
			m.Dependencies = types.Dependencies{{ImageName: types.ACIdentifier(baseName), ImageID: pin,
				Labels: types.Labels{{Name: "version", Value: "1.0.0"}}}}
		}})

	before := e.storeState()
	r := e.failSaturn("not the required", "fetch", app)
	if !strings.Contains(r.Stderr, baseName) {
		t.Errorf("error does not name the dependency:\n%s", r.Stderr)
	}
	if gets, _, _ := srv.counts(srv.imagePath(baseName, "1.0.0")); gets != 1 {
		t.Fatalf("the served dependency was not downloaded (%d), so the test proves nothing", gets)
	}
	if got := e.storeState(); got != before {
		t.Fatalf("a mismatched pinned dependency left something in the store:\n%s\nwas\n%s", got, before)
	}
	if sigs, _ := os.ReadDir(filepath.Join(e.Dir, "cas", "signatures")); len(sigs) != 0 {
		t.Fatalf("signatures left: %d", len(sigs))
	}
}

func TestRemoteLatestAndDebug(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	g := gpgtest.New(t)
	fpr := g.GenKey("Latest <latest@example.com>", "never")
	trustKey(t, e, g, fpr, srv.Host)
	name := srv.Host + "/latest"
	v1, v1sig := signed(t, g, fpr, testimg.Options{Name: name, Version: "1.0.0"})
	srv.publish(name, "1.0.0", v1, v1sig)
	srv.publish(name, "latest", v1, v1sig)

	r := e.saturn("fetch", name+":1.0.0")
	if r.Code != 0 {
		t.Fatal(r)
	}
	if strings.Contains(r.Stderr, "discovery:") || strings.Contains(r.Stderr, "cache:") {
		t.Errorf("debug lines without --debug:\n%s", r.Stderr)
	}
	latest := func() string {
		t.Helper()
		return strings.Join(strings.Fields(e.mustSaturn("image", "list", "--no-legend", "--fields=latest")), " ")
	}
	if got := latest(); got != "false" {
		t.Errorf("fetched by version: LATEST %q, want false", got)
	}
	// By name alone, rkt's "latest pattern": the column says true.
	r = e.saturn("--debug", "fetch", "--pull-policy=update", name)
	if r.Code != 0 {
		t.Fatal(r)
	}
	if got := latest(); got != "true" {
		t.Errorf("fetched without a version: LATEST %q, want true", got)
	}
	for _, want := range []string{
		"discovery: asking https://" + srv.Host + "/latest?ac-discovery=1",
		"discovery: " + name + ",arch=",
		"https://" + srv.Host + srv.imagePath(name, "latest"),
		"cache: " + "https://" + srv.Host + srv.imagePath(name, "latest") + " was never downloaded",
		"verified by key " + fpr,
	} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("fetch --debug does not say %q:\n%s", want, r.Stderr)
		}
	}
	r = e.saturn("--debug", "fetch", "--pull-policy=new", name+":1.0.0")
	if r.Code != 0 || !strings.Contains(r.Stderr, "found in the store") {
		t.Errorf("fetch --debug from the store does not say so: %s", r)
	}
}

func TestRemoteTLSToPlainHTTPNotRetried(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			// A plain HTTP server's answer to whatever arrives.
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	u := "https://" + ln.Addr().String() + "/image.aci"
	r := e.failSaturn("plain HTTP", "--insecure-options=image", "fetch", u)
	if !strings.Contains(r.Stderr, u) {
		t.Errorf("error does not name the URL:\n%s", r.Stderr)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("a TLS handshake with a plain HTTP server was tried %d times, want once", n)
	}
}
