package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/aci"
	"github.com/saturn-pods/saturn/tests/testimg"
	"github.com/saturn-pods/saturn/trust/gpgtest"
)

func TestTrustCommand(t *testing.T) {
	e := newEnv(t)
	g := gpgtest.New(t)
	fpr := g.GenKey("Trusted <trusted@example.com>", "never")
	rootFpr := g.GenKey("Root <root@example.com>", "never")
	key := g.ExportFile(fpr, t.TempDir())
	rootKey := g.ExportFile(rootFpr, t.TempDir())

	e.failSaturn("--prefix required", "trust", key)
	e.failSaturn("stdin is not a terminal", "trust", "--prefix=example.com/app", key)
	e.failSaturn("invalid prefix", "trust", "--skip-fingerprint-review", "--prefix=../etc", key)
	e.failSaturn("does not exist", "trust", "--skip-fingerprint-review", "--prefix=example.com", filepath.Join(t.TempDir(), "nokey"))
	if _, err := os.Stat(filepath.Join(e.LocalConfig, "trustedkeys")); err == nil {
		t.Fatal("refused trust commands wrote to the trust store")
	}

	r := e.saturn("trust", "--prefix=example.com/app", "--skip-fingerprint-review", key)
	if r.Code != 0 {
		t.Fatalf("trust: %s", r)
	}
	want := filepath.Join(e.LocalConfig, "trustedkeys/prefix.d/example.com/app", fpr)
	if !strings.Contains(r.Stdout, want) {
		t.Errorf("trust did not report %s:\n%s", want, r)
	}
	if !strings.Contains(r.Stderr, strings.ToUpper(fpr[:4])) || !strings.Contains(r.Stderr, "Trusted <trusted@example.com>") {
		t.Errorf("trust did not show fingerprint and user id:\n%s", r.Stderr)
	}
	stored, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(stored), "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
		t.Errorf("stored key is not an armored public key")
	}
	e.failSaturn("root keys are never discovered", "trust", "--root")
	e.mustSaturn("trust", "--root", "--skip-fingerprint-review", rootKey)
	if _, err := os.Stat(filepath.Join(e.LocalConfig, "trustedkeys/root.d", rootFpr)); err != nil {
		t.Fatalf("root key: %v", err)
	}
	list := e.mustSaturn("trust", "list")
	for _, w := range []string{"example.com/app", fpr, "(root)", rootFpr, "Root <root@example.com>"} {
		if !strings.Contains(list, w) {
			t.Errorf("trust list lacks %q:\n%s", w, list)
		}
	}
	if only := e.mustSaturn("trust", "list", "--prefix=other.org"); strings.Contains(only, fpr) || !strings.Contains(only, rootFpr) {
		t.Errorf("trust list --prefix=other.org shows keys of example.com/app or hides root keys:\n%s", only)
	}
}

func TestTrustRefusesRevokedKey(t *testing.T) {
	e := newEnv(t)
	g := gpgtest.New(t)
	fpr := g.GenKey("Revoked <revoked@example.com>", "never")
	g.Revoke(fpr)
	key := g.ExportFile(fpr, t.TempDir())
	e.failSaturn("revoked", "trust", "--prefix=example.com", "--skip-fingerprint-review", key)
	if _, err := os.Stat(filepath.Join(e.LocalConfig, "trustedkeys")); err == nil {
		t.Fatal("a revoked key was written to the trust store")
	}
}

func TestTrustLocalImageSignature(t *testing.T) {
	e := newEnv(t)
	g := gpgtest.New(t)
	fpr := g.GenKey("Local <local@example.com>", "never")
	expired := g.GenExpiredKey("Expired <expired@example.com>")
	aci := testimg.Busybox(t, testimg.Options{Name: "example.com/local"})
	sig := g.Sign(fpr, aci)
	// The signature given with --signature may live anywhere.
	moved := filepath.Join(t.TempDir(), "image.sig")
	if err := os.Rename(sig, moved); err != nil {
		t.Fatal(err)
	}
	e.failSaturn("no keys are trusted", "fetch", "--signature="+moved, aci)
	trustKey(t, e, g, fpr, "example.com")
	e.failSaturn("expired", "trust", "--prefix=example.com", "--skip-fingerprint-review", g.ExportFile(expired, t.TempDir()))
	// Pre-populated on disk, as rkt documents, the key is read but refused
	// when it comes to verifying.
	dir := filepath.Join(e.LocalConfig, "trustedkeys/prefix.d/example.com")
	if err := os.WriteFile(filepath.Join(dir, expired), g.Export(expired), 0o644); err != nil {
		t.Fatal(err)
	}
	e.failSaturn("does not exist", "fetch", aci)
	// Files that cannot be a signature are named and told apart.
	before := e.storeState()
	empty := writeTemp(t, "empty.asc", nil)
	r := e.failSaturn("is empty, not a detached signature", "fetch", "--signature="+empty, aci)
	if !strings.Contains(r.Stderr, empty) {
		t.Errorf("empty signature error does not name %s:\n%s", empty, r.Stderr)
	}
	pub := writeTemp(t, "key.asc", g.Export(fpr))
	r = e.failSaturn("holds a PGP PUBLIC KEY BLOCK, not a detached signature", "fetch", "--signature="+pub, aci)
	if !strings.Contains(r.Stderr, pub) {
		t.Errorf("wrong-block error does not name %s:\n%s", pub, r.Stderr)
	}
	garbage := writeTemp(t, "garbage.asc", []byte("this is no signature\n"))
	e.failSaturn("is not an OpenPGP signature", "fetch", "--signature="+garbage, aci)
	if got := e.storeState(); got != before {
		t.Fatalf("refused signatures changed the store:\n%s\nwas\n%s", got, before)
	}
	id := strings.TrimSpace(e.mustSaturn("fetch", "--full", "--signature="+moved, aci))
	if id != aciID(t, aci) {
		t.Fatalf("fetch = %q, want %s", id, aciID(t, aci))
	}

	old := testimg.Busybox(t, testimg.Options{Name: "example.com/old"})
	g.SignAt(expired, old, "20200101T120000!")
	r = e.failSaturn("expired", "fetch", old)
	if !strings.Contains(r.Stderr, expired) || !strings.Contains(r.Stderr, "example.com/old") {
		t.Errorf("expired-key error does not name key and image:\n%s", r.Stderr)
	}
	if blobs := casBlobs(t, e); len(blobs) != 1 {
		t.Fatalf("store holds %v, want only the verified image", blobs)
	}
}

func TestImageVerify(t *testing.T) {
	e := newEnv(t)
	a := testimg.Busybox(t, testimg.Options{Name: "example.com/a"})
	b := testimg.Busybox(t, testimg.Options{Name: "example.com/b", Files: map[string]string{"/b": "b"}})
	e.mustSaturn("--insecure-options=image", "fetch", a, b)
	out := e.mustSaturn("image", "verify")
	// Unsigned images are sound, not damaged: they were fetched with
	// signature checks off and are reported as such.
	if strings.Count(out, " ok ") != 2 || strings.Count(out, "unsigned") != 2 || strings.Contains(out, "damaged") {
		t.Fatalf("image verify of a sound store:\n%s", out)
	}
	// Damage one blob in place, as a failing disk would.
	blob := filepath.Join(e.Dir, "cas", "blobs", aciID(t, b))
	f, err := os.OpenFile(blob, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("rot"), 4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := e.saturn("image", "verify")
	if r.Code == 0 {
		t.Fatalf("image verify passed a damaged store:\n%s", r)
	}
	if !strings.Contains(r.Stdout, "example.com/b") || !strings.Contains(r.Stdout, "damaged") || !strings.Contains(r.Stderr, "1 of 2 images damaged") {
		t.Errorf("image verify does not name the damaged image:\n%s", r)
	}
	if out := e.mustSaturn("image", "verify", "example.com/a"); !strings.Contains(out, "ok") {
		t.Errorf("image verify of the sound image:\n%s", out)
	}
	e.failSaturn("not found", "image", "verify", "example.com/missing")
}

func TestTrustByDiscovery(t *testing.T) {
	e := newEnv(t)
	srv := newImageServer(t, e)
	g := gpgtest.New(t)
	fpr := g.GenKey("Published <published@example.com>", "never")
	prefix := srv.Host + "/team"
	// Discovery names the key, but it is not there yet.
	e.failSaturn("404", "trust", "--prefix="+prefix, "--skip-fingerprint-review")
	srv.put("/pubkeys.asc", g.Export(fpr))
	r := e.saturn("trust", "--prefix="+prefix, "--skip-fingerprint-review")
	if r.Code != 0 {
		t.Fatalf("trust by discovery: %s", r)
	}
	if !strings.Contains(r.Stderr, "https://"+srv.Host+"/pubkeys.asc") {
		t.Errorf("trust did not say where the key came from:\n%s", r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(e.LocalConfig, "trustedkeys/prefix.d", prefix, fpr)); err != nil {
		t.Fatalf("discovered key not stored: %v", err)
	}
	// Trusting it again is not an error and changes nothing.
	if r := e.saturn("trust", "--prefix="+prefix, "--skip-fingerprint-review"); r.Code != 0 || !strings.Contains(r.Stderr, "already in the keystore") {
		t.Fatalf("second trust: %s", r)
	}
	// trust's own flag for plain http is --insecure-allow-http.
	r = e.failSaturn("plain http", "trust", "--prefix="+prefix, "--skip-fingerprint-review", "http://"+srv.Host+"/pubkeys.asc")
	if !strings.Contains(r.Stderr, "--insecure-allow-http") || strings.Contains(r.Stderr, "--insecure-options") {
		t.Errorf("refusal does not point at trust's --insecure-allow-http:\n%s", r.Stderr)
	}
	// --debug says where the keys were looked for and found.
	r = e.saturn("--debug", "trust", "--prefix="+prefix, "--skip-fingerprint-review")
	for _, want := range []string{"discovering the public keys of prefix " + prefix, "https://" + srv.Host + "/pubkeys.asc", fpr} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("trust --debug does not mention %q:\n%s", want, r.Stderr)
		}
	}
}

// onTerminal runs saturn with args on a pseudo-terminal made by script(1)
// and types answer on it.
func (e *env) onTerminal(t *testing.T, answer string, args ...string) result {
	t.Helper()
	line := strings.Join(append(append([]string{saturnBin()}, e.globalArgs()...), args...), " ")
	cmd := exec.Command("script", "-qec", line, "/dev/null")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = pr
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("script(1): %v", err)
	}
	pr.Close()
	// The terminal's line discipline holds the answer until saturn reads.
	pw.Write([]byte(answer + "\n"))
	err = cmd.Wait()
	pw.Close()
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
	}
	return result{Stdout: out.String(), Code: code}
}

func TestTrustAsksOnTerminal(t *testing.T) {
	e := newEnv(t)
	g := gpgtest.New(t)
	fpr := g.GenKey("Asked <asked@example.com>", "never")
	key := g.ExportFile(fpr, t.TempDir())
	stored := filepath.Join(e.LocalConfig, "trustedkeys/prefix.d/example.com", fpr)

	r := e.onTerminal(t, "no", "trust", "--prefix=example.com", key)
	if r.Code == 0 || !strings.Contains(r.Stdout, "Are you sure you want to trust this key") {
		t.Fatalf("answering no: %s", r)
	}
	if _, err := os.Stat(stored); err == nil {
		t.Fatal("key stored although the user said no")
	}
	r = e.onTerminal(t, "yes", "trust", "--prefix=example.com", key)
	if r.Code != 0 || !strings.Contains(r.Stdout, strings.ToUpper(fpr[len(fpr)-4:])) {
		t.Fatalf("answering yes: %s", r)
	}
	if _, err := os.Stat(stored); err != nil {
		t.Fatalf("key not stored after yes: %v", err)
	}
}

func TestImageVerifySignatures(t *testing.T) {
	e := newEnv(t)
	g := gpgtest.New(t)
	fpr := g.GenKey("Signer <signer@example.com>", "never")
	trustKey(t, e, g, fpr, "example.com")
	plain := testimg.Busybox(t, testimg.Options{Name: "example.com/plain"})
	g.Sign(fpr, plain)
	gz := testimg.Busybox(t, testimg.Options{Name: "example.com/gz", Compression: aci.Gzip})
	g.Sign(fpr, gz)
	unsigned := testimg.Busybox(t, testimg.Options{Name: "example.com/unsigned"})
	ids := strings.Fields(e.mustSaturn("fetch", "--full", plain, gz))
	e.mustSaturn("--insecure-options=image", "fetch", unsigned)
	sigDir := filepath.Join(e.Dir, "cas", "signatures")
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(sigDir, id+".asc")); err != nil {
			t.Fatalf("signature not kept with the image: %v", err)
		}
	}
	line := func(out, name string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, name+" ") {
				return l
			}
		}
		t.Fatalf("image verify does not list %s:\n%s", name, out)
		return ""
	}
	out := e.mustSaturn("image", "verify")
	if l := line(out, "example.com/plain"); !strings.Contains(l, "verified") || !strings.Contains(l, "Signer <signer@example.com>") {
		t.Errorf("uncompressed signed image: %q", l)
	}
	if l := line(out, "example.com/gz"); !strings.Contains(l, "Signer <signer@example.com>") || !strings.Contains(l, "gzip") {
		t.Errorf("gzip signed image: %q", l)
	}
	if l := line(out, "example.com/unsigned"); !strings.Contains(l, " ok ") || !strings.Contains(l, "unsigned") {
		t.Errorf("unsigned image: %q", l)
	}

	// The key is revoked since: both signed images are reported.
	g.Revoke(fpr)
	key := filepath.Join(e.LocalConfig, "trustedkeys/prefix.d/example.com", fpr)
	if err := os.WriteFile(key, g.Export(fpr), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.saturn("image", "verify")
	if r.Code == 0 || !strings.Contains(r.Stderr, "2 of 3 images signed by keys no longer trusted") {
		t.Fatalf("image verify with a revoked key: %s", r)
	}
	for _, name := range []string{"example.com/plain", "example.com/gz"} {
		if l := line(r.Stdout, name); !strings.Contains(l, "revoked") || strings.Contains(l, "damaged") {
			t.Errorf("%s after revocation: %q", name, l)
		}
	}
	// Removed from the trust store altogether.
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	r = e.saturn("image", "verify", "example.com/plain", "example.com/gz")
	if r.Code == 0 || strings.Count(r.Stdout, "no keys are trusted")+strings.Count(r.Stdout, "not trusted") != 2 {
		t.Fatalf("image verify with the key removed: %s", r)
	}
	if out := e.mustSaturn("image", "verify", "example.com/unsigned"); !strings.Contains(out, "unsigned") {
		t.Errorf("unsigned image verify: %s", out)
	}

	// Signatures leave with their images: by rm and by gc.
	e.mustSaturn("image", "rm", ids[0])
	if _, err := os.Stat(filepath.Join(sigDir, ids[0]+".asc")); !os.IsNotExist(err) {
		t.Errorf("image rm left the signature: %v", err)
	}
	e.mustSaturn("image", "gc", "--grace-period=0s")
	if ents, _ := os.ReadDir(sigDir); len(ents) != 0 {
		t.Errorf("image gc left %d signatures", len(ents))
	}
}
