package trust_test

import (
	"os"
	"strings"
	"testing"

	"github.com/saturn-pods/saturn/trust"
)

func TestCheckSignatureFile(t *testing.T) {
	f := newFixture(t)
	fpr := f.gpg.GenKey("Sig <sig@example.com>", "never")
	armored := f.sign(t, fpr, "")
	binPath := f.file + ".sig"
	f.gpg.Run("--local-user", fpr, "--detach-sign", "--output", binPath, f.file)
	binary, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string // "" = accepted
	}{
		{"armored signature", armored, ""},
		{"binary signature", binary, ""},
		{"empty", nil, "is empty"},
		{"blank lines", []byte("\n \n"), "is empty"},
		{"armored public key", f.gpg.Export(fpr), "holds a PGP PUBLIC KEY BLOCK, not a detached signature"},
		{"binary public key", f.gpg.Run("--export", fpr), "not a detached signature"},
		{"text", []byte("hello, I am a signature\n"), "is not an OpenPGP signature"},
		{"broken armor", []byte("-----BEGIN PGP SIGNATURE-----\n\n!!!\n"), "not a valid ASCII-armored signature"},
	}
	for _, tt := range tests {
		err := trust.CheckSignatureFile(tt.data)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestCheckSigner(t *testing.T) {
	f := newFixture(t)
	good := f.gpg.GenKey("Good <good@example.com>", "never")
	other := f.gpg.GenKey("Other <other@example.com>", "never")
	f.trust(t, "example.com", good)
	f.trust(t, "other.org", other)
	sig := f.sign(t, good, "")
	if k, err := f.store.CheckSigner("example.com/app", sig); err != nil || k.Fingerprint != good {
		t.Fatalf("CheckSigner = %v, %v; want key %s", k, err, good)
	}
	if _, err := f.store.CheckSigner("elsewhere.net/app", sig); err == nil || !strings.Contains(err.Error(), "trusted only for prefix example.com") {
		t.Errorf("signer of another prefix: %v", err)
	}
	if _, err := f.store.CheckSigner("other.org/app", f.sign(t, good, "")); err == nil {
		t.Error("a key trusted for example.com passed for other.org")
	}
	f.gpg.Revoke(good)
	f.trust(t, "example.com", good)
	if _, err := f.store.CheckSigner("example.com/app", sig); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked signer: %v", err)
	}
}
