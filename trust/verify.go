package trust

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
)

// Verify checks sig, a detached OpenPGP signature (ASCII-armored or
// binary), of the image read from signed, against the keys trusted for
// the image name. It reads signed to its end when it gets that far, so a
// caller may tee a download through it. It returns the signing key.
func (s *Store) Verify(name string, signed io.Reader, sig []byte) (*Key, error) {
	keyring, err := s.Keyring(name)
	if err != nil {
		return nil, err
	}
	if len(keyring) == 0 {
		return nil, fmt.Errorf("image %s: no keys are trusted for it (add one with 'saturn trust --prefix=%s')", name, name)
	}
	body := bytes.NewReader(sig)
	var signer *openpgp.Entity
	if isArmored(sig) {
		signer, err = openpgp.CheckArmoredDetachedSignature(keyring, signed, body, nil)
	} else {
		signer, err = openpgp.CheckDetachedSignature(keyring, signed, body, nil)
	}
	if err != nil {
		return nil, s.explain(name, sig, keyring, signer, err)
	}
	return newKey(signer), nil
}

func isArmored(sig []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP"))
}

// explain turns an openpgp verification error into one line naming the
// image and the key.
func (s *Store) explain(name string, sig []byte, keyring openpgp.EntityList, signer *openpgp.Entity, err error) error {
	issuer := issuerOf(sig)
	who := "key " + issuer
	if signer != nil {
		who = "key " + describeEntity(signer)
	} else if e := findIssuer(keyring, issuer); e != nil {
		who = "key " + describeEntity(e)
	}
	var sigErr pgperrors.SignatureError
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		if other := s.trustedElsewhere(issuer); other != "" {
			return fmt.Errorf("image %s is signed by %s, which is trusted only for %s, not for this image", name, who, other)
		}
		return fmt.Errorf("image %s is signed by %s, which is not trusted", name, who)
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return fmt.Errorf("image %s is signed by %s, which has been revoked", name, who)
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return fmt.Errorf("image %s is signed by %s, which has expired", name, who)
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return fmt.Errorf("image %s: the signature by %s has expired", name, who)
	case errors.As(err, &sigErr):
		return fmt.Errorf("image %s: signature by %s does not match the image (image tampered with or corrupt)", name, who)
	}
	return fmt.Errorf("image %s: verify signature by %s: %w", name, who, err)
}

// findIssuer finds the entity of keyring whose primary key or subkey has
// the fingerprint or 16-digit key id issuer.
func findIssuer(keyring openpgp.EntityList, issuer string) *openpgp.Entity {
	for _, e := range keyring {
		if matchesIssuer(e, issuer) {
			return e
		}
	}
	return nil
}

func matchesIssuer(e *openpgp.Entity, issuer string) bool {
	ids := []string{Fingerprint(e), fmt.Sprintf("%016x", e.PrimaryKey.KeyId)}
	for _, sk := range e.Subkeys {
		ids = append(ids, fmt.Sprintf("%x", sk.PublicKey.Fingerprint), fmt.Sprintf("%016x", sk.PublicKey.KeyId))
	}
	for _, id := range ids {
		if strings.EqualFold(id, issuer) {
			return true
		}
	}
	return false
}

// trustedElsewhere names the prefix a key that did not apply to an image
// is trusted for, so the user learns why it was refused.
func (s *Store) trustedElsewhere(issuer string) string {
	entries, err := s.List()
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if e.Masked || e.Prefix == "" || !matchesIssuer(e.Key.entity, issuer) {
			continue
		}
		return "prefix " + e.Prefix
	}
	return ""
}

// CheckKey refuses keys that cannot sign anything valid now: revoked or
// expired ones. saturn trust uses it before writing a key.
func CheckKey(k *Key) error {
	if p := k.Problem(time.Now()); p != "" {
		return fmt.Errorf("key %s is %s", k.Describe(), p)
	}
	return nil
}
