package trust

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

const signatureBlock = "PGP SIGNATURE"

// CheckSignatureFile says what is wrong with sig when it cannot be a
// detached OpenPGP signature at all: empty, another kind of armored block
// (a public key given by mistake, say) or binary data that does not start
// with a signature packet. It does not verify anything; callers name the
// file or URL the data came from.
func CheckSignatureFile(sig []byte) error {
	trimmed := bytes.TrimSpace(sig)
	if len(trimmed) == 0 {
		return errors.New("is empty, not a detached signature")
	}
	var body io.Reader = bytes.NewReader(sig)
	if isArmored(trimmed) {
		block, err := armor.Decode(bytes.NewReader(trimmed))
		if err != nil {
			return fmt.Errorf("is not a valid ASCII-armored signature: %v", err)
		}
		if block.Type != signatureBlock {
			return fmt.Errorf("holds a %s, not a detached signature (%s)", block.Type, signatureBlock)
		}
		body = block.Body
	}
	p, err := packet.NewReader(body).Next()
	if err != nil {
		if isArmored(trimmed) {
			return fmt.Errorf("is not a valid ASCII-armored signature: %v", err)
		}
		return errors.New("is not an OpenPGP signature (neither armored nor a binary signature packet)")
	}
	switch p.(type) {
	case *packet.Signature:
		return nil
	case *packet.PublicKey:
		return errors.New("holds an OpenPGP public key, not a detached signature")
	case *packet.PrivateKey:
		return errors.New("holds an OpenPGP private key, not a detached signature")
	}
	return errors.New("holds OpenPGP data that is not a detached signature")
}

// CheckSigner checks, without the signed data, that the key that made sig
// is still trusted for the image called name: present in its keyring, not
// revoked, not expired. It is what can be re-checked of a signature whose
// signed bytes are gone (a compressed download that the store keeps
// decompressed). Errors are one line naming the image and the key.
func (s *Store) CheckSigner(name string, sig []byte) (*Key, error) {
	issuer := issuerOf(sig)
	keyring, err := s.Keyring(name)
	if err != nil {
		return nil, err
	}
	e := findIssuer(keyring, issuer)
	if e == nil {
		if other := s.trustedElsewhere(issuer); other != "" {
			return nil, fmt.Errorf("image %s is signed by key %s, which is trusted only for %s, not for this image", name, issuer, other)
		}
		return nil, fmt.Errorf("image %s is signed by key %s, which is not trusted (any more)", name, issuer)
	}
	k := newKey(e)
	switch k.Problem(time.Now()) {
	case "revoked":
		return nil, fmt.Errorf("image %s is signed by key %s, which has been revoked", name, k.Describe())
	case "expired":
		return nil, fmt.Errorf("image %s is signed by key %s, which has expired", name, k.Describe())
	}
	return k, nil
}
