package tests

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/saturn-pods/saturn/tests/testimg"
)

// testRegistry is Debian's docker-registry (the reference registry) run
// by a test on a loopback port with its storage in the test's temp dir:
// plain HTTP, or TLS (a CA of the test's own, trusted by saturn through
// certs.d) with basic auth from an htpasswd file.
type testRegistry struct {
	t        *testing.T
	Host     string // 127.0.0.1:PORT
	TLS      bool
	User     string
	Password string
	storage  string
	log      string
	caPEM    []byte
}

// startRegistry starts a registry; with secure, TLS and basic auth,
// and e trusts its CA.
func startRegistry(t *testing.T, e *env, secure bool) *testRegistry {
	t.Helper()
	dir := t.TempDir()
	r := &testRegistry{t: t, TLS: secure, storage: filepath.Join(dir, "storage"), log: filepath.Join(dir, "registry.log")}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Host = ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf("version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", r.storage, r.Host)
	if secure {
		r.User, r.Password = "tester", "s3cret-pw"
		var cert tls.Certificate
		r.caPEM, cert = makeCerts(t, "127.0.0.1")
		keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))
		writeTestFile(t, filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(dir, "htpasswd"), []byte(r.User+":"+string(hash)+"\n"))
		conf += fmt.Sprintf("  tls:\n    certificate: %s/cert.pem\n    key: %s/key.pem\nauth:\n  htpasswd:\n    realm: saturn-test\n    path: %s/htpasswd\n", dir, dir, dir)
		writeTestFile(t, filepath.Join(e.LocalConfig, "certs.d", "registry-ca.pem"), r.caPEM)
		writeTestFile(t, filepath.Join(dir, "certs", "ca.crt"), r.caPEM)
	}
	writeTestFile(t, filepath.Join(dir, "config.yml"), []byte(conf))
	logf, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry (is the docker-registry package installed?): %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	r.waitReady(cmd)
	return r
}

func writeTestFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitReady polls /v2/ until the registry answers (200, or 401 with auth).
func (r *testRegistry) waitReady(cmd *exec.Cmd) {
	client := r.client()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(r.url("/v2/"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(r.log)
	r.t.Fatalf("registry on %s did not come up:\n%s", r.Host, log)
}

func (r *testRegistry) client() *http.Client {
	if !r.TLS {
		return &http.Client{Timeout: 5 * time.Second}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.caPEM)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func (r *testRegistry) url(p string) string {
	if r.TLS {
		return "https://" + r.Host + p
	}
	return "http://" + r.Host + p
}

// Ref is the docker:// reference of repo:tag at this registry.
func (r *testRegistry) Ref(repoTag string) string { return "docker://" + r.Host + "/" + repoTag }

// push copies the image tag of an OCI layout into repoTag with skopeo,
// with flags (--format=v2s2 for a Docker schema 2 manifest, say).
func (r *testRegistry) push(layout, tag, repoTag string, flags ...string) {
	r.t.Helper()
	args := append([]string{"copy", "--quiet"}, flags...)
	if r.TLS {
		args = append(args, "--dest-cert-dir", filepath.Join(filepath.Dir(r.log), "certs"), "--dest-creds", r.User+":"+r.Password)
	} else {
		args = append(args, "--dest-tls-verify=false")
	}
	args = append(args, "oci:"+layout+":"+tag, r.Ref(repoTag))
	if out, err := exec.Command("skopeo", args...).CombinedOutput(); err != nil {
		r.t.Fatalf("skopeo %v: %v\n%s", args, err, out)
	}
}

// digest asks the registry for the manifest digest of repo:tag.
func (r *testRegistry) digest(repoTag string) string {
	r.t.Helper()
	d, _ := r.head(repoTag)
	return d
}

// head asks the registry for the manifest digest and media type of
// repo:tag.
func (r *testRegistry) head(repoTag string) (string, string) {
	r.t.Helper()
	repo, tag, _ := strings.Cut(repoTag, ":")
	req, err := http.NewRequest(http.MethodHead, r.url("/v2/"+repo+"/manifests/"+tag), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	if r.TLS {
		req.SetBasicAuth(r.User, r.Password)
	}
	resp, err := r.client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(d, "sha256:") {
		r.t.Fatalf("HEAD %s: %s, digest %q", repoTag, resp.Status, d)
	}
	return d, resp.Header.Get("Content-Type")
}

// blobPath is where the registry stores the blob with digest d.
func (r *testRegistry) blobPath(d string) string {
	hex := strings.TrimPrefix(d, "sha256:")
	return filepath.Join(r.storage, "docker/registry/v2/blobs/sha256", hex[:2], hex, "data")
}

// gets counts the GET requests the registry answered 200 whose path
// matches pathRE, from its access log.
func (r *testRegistry) gets(pathRE string) int {
	r.t.Helper()
	log, err := os.ReadFile(r.log)
	if err != nil {
		r.t.Fatal(err)
	}
	re := regexp.MustCompile(`"GET ` + pathRE + ` HTTP/[0-9.]+" 200 `)
	return len(re.FindAll(log, -1))
}

// umoci runs Debian's umoci.
func umoci(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("umoci", args...).CombinedOutput(); err != nil {
		t.Fatalf("umoci %v: %v\n%s", args, err, out)
	}
}

// ociLayout is an OCI image layout that a test builds images in with
// umoci, layer by layer.
type ociLayout struct {
	t   *testing.T
	Dir string
}

func newOCILayout(t *testing.T) *ociLayout {
	l := &ociLayout{t: t, Dir: filepath.Join(t.TempDir(), "layout")}
	umoci(t, "init", "--layout", l.Dir)
	return l
}

// image names tag in the layout.
func (l *ociLayout) image(tag string) string { return l.Dir + ":" + tag }

// layer adds a layer to tag (made from from, or empty when from is
// ""): change gets the unpacked rootfs to modify, and umoci repack
// records what changed (added, changed, deleted files) as the layer.
func (l *ociLayout) layer(from, tag string, change func(rootfs string)) {
	l.t.Helper()
	if from == "" {
		umoci(l.t, "new", "--image", l.image(tag))
	} else if from != tag {
		umoci(l.t, "tag", "--image", l.image(from), tag)
	}
	bundle := filepath.Join(l.t.TempDir(), "bundle")
	umoci(l.t, "unpack", "--image", l.image(tag), bundle)
	change(filepath.Join(bundle, "rootfs"))
	umoci(l.t, "repack", "--image", l.image(tag), bundle)
}

// rawLayer appends the uncompressed layer tar to tag as it is.
func (l *ociLayout) rawLayer(tag string, layer []byte) {
	l.t.Helper()
	p := filepath.Join(l.t.TempDir(), "layer.tar")
	writeTestFile(l.t, p, layer)
	umoci(l.t, "raw", "add-layer", "--image", l.image(tag), p)
}

// config sets umoci config flags (--config.cmd=… and so on) on tag.
func (l *ociLayout) config(tag string, flags ...string) {
	l.t.Helper()
	umoci(l.t, append([]string{"config", "--image", l.image(tag)}, flags...)...)
}

// busyboxRootfs fills rootfs with the test busybox image's rootfs
// (busybox-static, an applet symlink each, /etc/passwd and group).
func busyboxRootfs(t *testing.T, rootfs string) {
	t.Helper()
	dir := t.TempDir()
	if err := testimg.BusyboxDir(dir, testimg.Options{}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, "rootfs")+"/.", rootfs).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, bytes.TrimSpace(out))
	}
}
