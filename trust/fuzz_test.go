package trust_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/saturn-pods/saturn/trust"
)

// FuzzParseKeys parses arbitrary bytes as public keys. Every accepted key
// has a hex fingerprint of a v4 or v6 key, and its stored armored form
// parses back to exactly that key.
func FuzzParseKeys(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := trust.ParseKeys(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no error and no key")
		}
		for _, k := range keys {
			if _, err := hex.DecodeString(k.Fingerprint); err != nil || (len(k.Fingerprint) != 40 && len(k.Fingerprint) != 64) {
				t.Fatalf("accepted key has fingerprint %q", k.Fingerprint)
			}
			back, err := trust.ParseKeys(k.Armored)
			if err != nil {
				t.Fatalf("key %s: stored form does not parse: %v", k.Fingerprint, err)
			}
			if len(back) != 1 || back[0].Fingerprint != k.Fingerprint {
				t.Fatalf("key %s: stored form parses to %d keys", k.Fingerprint, len(back))
			}
			if err := trust.CheckSignatureFile(k.Armored); err == nil {
				t.Fatalf("key %s: accepted as a detached signature", k.Fingerprint)
			}
		}
	})
}

// FuzzCheckSignatureFile checks arbitrary bytes as a signature file. The
// verdict is a one-line error or none, and a binary signature it accepts
// is accepted in ASCII armor too.
func FuzzCheckSignatureFile(f *testing.F) {
	f.Fuzz(func(t *testing.T, sig []byte) {
		err := trust.CheckSignatureFile(sig)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		if bytes.Contains(sig, []byte("-----BEGIN")) {
			return
		}
		var buf bytes.Buffer
		w, err := armor.Encode(&buf, "PGP SIGNATURE", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(sig); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := trust.CheckSignatureFile(buf.Bytes()); err != nil {
			t.Fatalf("binary signature accepted, armored refused: %v", err)
		}
	})
}
