package trust_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/trust"
	"github.com/saturn-pods/saturn/trust/gpgtest"
)

func TestCleanPrefix(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "example.com", want: "example.com"},
		{in: "example.com/app/", want: "example.com/app"},
		{in: "coreos.com/etcd", want: "coreos.com/etcd"},
		{in: "Example.com", bad: true},
		{in: "../etc", bad: true},
		{in: "example.com/../x", bad: true},
		{in: "", bad: true},
		{in: "a b", bad: true},
	}
	for _, tt := range tests {
		got, err := trust.CleanPrefix(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("CleanPrefix(%q) = %q, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CleanPrefix(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatFingerprint(t *testing.T) {
	tests := []struct{ in, want string }{
		{"8b86de38890ddb7291867b025210bd8888182190", "8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190"},
		{"abcd", "ABCD"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := trust.FormatFingerprint(tt.in); got != tt.want {
			t.Errorf("FormatFingerprint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// fixture is a trust store, a gpg home and a signed file.
type fixture struct {
	store *trust.Store
	gpg   *gpgtest.GPG
	file  string
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	f := &fixture{
		store: trust.New(filepath.Join(dir, "local"), filepath.Join(dir, "system")),
		gpg:   gpgtest.New(t),
		file:  filepath.Join(dir, "image.aci"),
	}
	if err := os.WriteFile(f.file, bytes.Repeat([]byte("image bytes "), 10000), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) trust(t *testing.T, prefix, fpr string) string {
	t.Helper()
	keys, err := trust.ParseKeys(f.gpg.Export(fpr))
	if err != nil {
		t.Fatal(err)
	}
	path, err := f.store.Add(prefix, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// sign signs the fixture's file with fpr at gpg time faked ("" = now)
// and returns the signature.
func (f *fixture) sign(t *testing.T, fpr, faked string) []byte {
	t.Helper()
	sig, err := os.ReadFile(f.gpg.SignAt(fpr, f.file, faked))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func (f *fixture) verify(t *testing.T, name string, sig []byte) (*trust.Key, error) {
	t.Helper()
	img, err := os.Open(f.file)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	return f.store.Verify(name, img, sig)
}

func TestAddUsesRktLayout(t *testing.T) {
	f := newFixture(t)
	fpr := f.gpg.GenKey("Layout <layout@example.com>", "never")
	path := f.trust(t, "example.com/app", fpr)
	want := filepath.Join(f.store.LocalConfig, "trustedkeys/prefix.d/example.com/app", fpr)
	if path != want {
		t.Fatalf("key stored at %s, want %s", path, want)
	}
	root := f.trust(t, "", fpr)
	if want := filepath.Join(f.store.LocalConfig, "trustedkeys/root.d", fpr); root != want {
		t.Fatalf("root key stored at %s, want %s", root, want)
	}
	entries, err := f.store.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Prefix != "" || entries[1].Prefix != "example.com/app" {
		t.Fatalf("List = %+v, want a root and an example.com/app entry", entries)
	}
	if got := entries[1].Key.UserIDs; len(got) != 1 || got[0] != "Layout <layout@example.com>" {
		t.Fatalf("user ids %q", got)
	}
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	good := f.gpg.GenKey("Good <good@example.com>", "never")
	stranger := f.gpg.GenKey("Stranger <stranger@example.com>", "never")
	other := f.gpg.GenKey("Other <other@example.com>", "never")
	f.trust(t, "example.com/app", good)
	f.trust(t, "other.org", other)

	goodSig := f.sign(t, good, "")
	signer, err := f.verify(t, "example.com/app/sub", goodSig)
	if err != nil {
		t.Fatalf("good signature refused: %v", err)
	}
	if signer.Fingerprint != good {
		t.Fatalf("signer %s, want %s", signer.Fingerprint, good)
	}

	cases := []struct {
		name, image string
		sig         []byte
		want        string
	}{
		{"sibling prefix", "example.com/application", goodSig, "trusted only for prefix example.com/app"},
		{"untrusted key", "example.com/app", f.sign(t, stranger, ""), "which is not trusted"},
		{"untrusted key, no keys for name", "unrelated.net/app", f.sign(t, stranger, ""), "no keys are trusted"},
		{"other prefix", "example.com/app", f.sign(t, other, ""), "trusted only for prefix other.org"},
	}
	for _, c := range cases {
		_, err := f.verify(t, c.image, c.sig)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.image) {
			t.Errorf("%s: err = %v, want it to name %s and say %q", c.name, err, c.image, c.want)
		}
	}

	// Tamper after signing.
	if err := os.WriteFile(f.file, []byte("evil"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = f.verify(t, "example.com/app", goodSig)
	if err == nil || !strings.Contains(err.Error(), "does not match the image") || !strings.Contains(err.Error(), good) {
		t.Fatalf("tampered image: err = %v", err)
	}
}

func TestVerifyExpiredAndRevoked(t *testing.T) {
	f := newFixture(t)
	expired := f.gpg.GenExpiredKey("Old <old@example.com>")
	revoked := f.gpg.GenKey("Revoked <revoked@example.com>", "never")
	f.trust(t, "example.com", expired)
	revSig := f.sign(t, revoked, "")
	f.gpg.Revoke(revoked)
	f.trust(t, "example.com", revoked)
	oldSig := f.sign(t, expired, "20200101T120000!")

	if _, err := f.verify(t, "example.com/app", oldSig); err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), expired) {
		t.Errorf("expired key: err = %v", err)
	}
	if _, err := f.verify(t, "example.com/app", revSig); err == nil || !strings.Contains(err.Error(), "revoked") || !strings.Contains(err.Error(), revoked) {
		t.Errorf("revoked key: err = %v", err)
	}
	keys, err := trust.ParseKeys(f.gpg.Export(revoked))
	if err != nil {
		t.Fatal(err)
	}
	if err := trust.CheckKey(keys[0]); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("CheckKey(revoked) = %v", err)
	}
}

func TestLocalMasksSystem(t *testing.T) {
	f := newFixture(t)
	fpr := f.gpg.GenKey("System <system@example.com>", "never")
	sig := f.sign(t, fpr, "")
	sysStore := trust.New(f.store.SystemConfig, filepath.Join(t.TempDir(), "unused"))
	keys, err := trust.ParseKeys(f.gpg.Export(fpr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sysStore.Add("example.com", keys[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(t, "example.com/app", sig); err != nil {
		t.Fatalf("system key not honoured: %v", err)
	}
	mask := filepath.Join(f.store.LocalConfig, "trustedkeys/prefix.d/example.com/app", fpr)
	if err := os.MkdirAll(filepath.Dir(mask), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mask, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(t, "example.com/app", sig); err == nil {
		t.Fatal("masked key still trusted for example.com/app")
	}
	if _, err := f.verify(t, "example.com/other", sig); err != nil {
		t.Fatalf("mask for example.com/app leaked to example.com/other: %v", err)
	}
}

func TestBinaryKeyAndSignature(t *testing.T) {
	f := newFixture(t)
	fpr := f.gpg.GenKey("Binary <binary@example.com>", "never")
	keys, err := trust.ParseKeys(f.gpg.Run("--export", fpr))
	if err != nil {
		t.Fatal(err)
	}
	if keys[0].Fingerprint != fpr || !bytes.HasPrefix(keys[0].Armored, []byte("-----BEGIN PGP PUBLIC KEY BLOCK")) {
		t.Fatalf("binary key parsed as %s, armored %q", keys[0].Fingerprint, keys[0].Armored[:20])
	}
	if _, err := f.store.Add("", keys[0]); err != nil {
		t.Fatal(err)
	}
	sig := f.file + ".sig"
	f.gpg.Run("--local-user", fpr, "--detach-sign", "--output", sig, f.file)
	raw, err := os.ReadFile(sig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(t, "any.example/name", raw); err != nil {
		t.Fatalf("binary signature by root key refused: %v", err)
	}
}

func TestParseKeysRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "not a key", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"} {
		if _, err := trust.ParseKeys([]byte(in)); err == nil {
			t.Errorf("ParseKeys(%q) succeeded", in)
		}
	}
}
