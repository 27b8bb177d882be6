// Package gpgtest drives the real gpg binary for tests: it makes keys in a
// throwaway home directory, exports them and signs files with them, so
// tests never depend on precomputed keys or signatures.
package gpgtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GPG is a gpg home directory holding the keys of one test.
type GPG struct {
	Home string
	t    testing.TB
}

// New makes an empty gpg home directory, removed (and its agent stopped)
// when the test ends.
func New(t testing.TB) *GPG {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatalf("gpg not found (install gnupg: sudo ./build.sh deps): %v", err)
	}
	// gpg-agent's socket lives in the home directory and socket paths are
	// limited to 108 bytes, too short for some t.TempDir names.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &GPG{Home: home, t: t}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	return g
}

// Run runs gpg in the home directory with args and returns its stdout.
func (g *GPG) Run(args ...string) []byte {
	g.t.Helper()
	full := append([]string{"--batch", "--homedir", g.Home, "--no-tty",
		"--pinentry-mode", "loopback", "--passphrase", ""}, args...)
	cmd := exec.Command("gpg", full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		g.t.Fatalf("gpg %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// GenKey makes an ed25519 signing key for uid that expires as gpg's
// --quick-gen-key understands ("never", "1d", …) and returns its
// fingerprint in lowercase hex.
func (g *GPG) GenKey(uid, expire string) string {
	g.t.Helper()
	g.Run("--quick-gen-key", uid, "ed25519", "sign", expire)
	return g.fingerprint(uid)
}

// GenExpiredKey makes a key for uid that was created in 2020 and expired
// a day later, and returns its fingerprint. Sign with SignAt to use it.
func (g *GPG) GenExpiredKey(uid string) string {
	g.t.Helper()
	g.Run("--faked-system-time", "20200101T000000!", "--quick-gen-key", uid, "ed25519", "sign", "1d")
	return g.fingerprint(uid)
}

func (g *GPG) fingerprint(uid string) string {
	g.t.Helper()
	out := g.Run("--with-colons", "--list-keys", "="+uid)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 9 && f[0] == "fpr" {
			return strings.ToLower(f[9])
		}
	}
	g.t.Fatalf("gpg: no fingerprint for %q in %s", uid, out)
	return ""
}

// Export returns the ASCII-armored public key fpr.
func (g *GPG) Export(fpr string) []byte {
	g.t.Helper()
	return g.Run("--armor", "--export", fpr)
}

// ExportFile writes the armored public key fpr to a file in dir and
// returns its path.
func (g *GPG) ExportFile(fpr, dir string) string {
	g.t.Helper()
	p := filepath.Join(dir, fpr+".asc")
	if err := os.WriteFile(p, g.Export(fpr), 0o644); err != nil {
		g.t.Fatal(err)
	}
	return p
}

// Sign writes an armored detached signature of file to file+".asc" with
// key fpr and returns the signature's path.
func (g *GPG) Sign(fpr, file string) string {
	g.t.Helper()
	return g.SignAt(fpr, file, "")
}

// SignAt is Sign with gpg's clock set to faked ("20200101T120000!"), for
// keys that have expired since; "" uses the real time.
func (g *GPG) SignAt(fpr, file, faked string) string {
	g.t.Helper()
	out := file + ".asc"
	args := []string{"--yes", "--local-user", fpr, "--armor", "--detach-sign", "--output", out, file}
	if faked != "" {
		args = append([]string{"--faked-system-time", faked}, args...)
	}
	g.Run(args...)
	return out
}

// Revoke imports the revocation certificate gpg made with key fpr, so
// the key exported afterwards carries its revocation.
func (g *GPG) Revoke(fpr string) {
	g.t.Helper()
	rev := filepath.Join(g.Home, "openpgp-revocs.d", strings.ToUpper(fpr)+".rev")
	data, err := os.ReadFile(rev)
	if err != nil {
		g.t.Fatalf("revocation certificate of %s: %v", fpr, err)
	}
	// gpg prefixes the armor header with ':' so the certificate is not
	// imported by accident; take it off to import it on purpose.
	data = bytes.Replace(data, []byte(":-----BEGIN"), []byte("-----BEGIN"), 1)
	cert := filepath.Join(g.Home, "revoke.asc")
	if err := os.WriteFile(cert, data, 0o600); err != nil {
		g.t.Fatal(err)
	}
	g.Run("--import", cert)
}

// Verify runs gpg --verify of file against sig with the keys of this home
// directory, for benchmarks and cross-checks.
func (g *GPG) Verify(sig, file string) error {
	cmd := exec.Command("gpg", "--batch", "--homedir", g.Home, "--verify", sig, file)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gpg --verify: %v: %s", err, out)
	}
	return nil
}
