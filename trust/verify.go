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
// the image name, and returns the signing key. It reads signed to its
// end unless the signature is refused before the data matters.
func (s *Store) Verify(name string, signed io.Reader, sig []byte) (*Key, error) {
	signer, err := s.Check(signed, sig)
	return signer, s.Authorize(name, signer, err)
}

// CheckError is a signature that failed its cryptographic check. It does
// not yet name the image; Authorize turns it into the final message.
type CheckError struct {
	// Issuer is the key id or fingerprint the signature names.
	Issuer string
	// Signer is the key that made the signature, when it is known.
	Signer *Key
	Err    error
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("signature by key %s: %v", e.Issuer, e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// Check verifies the signature's mathematics against every key in the
// trust store, whatever prefix it is trusted for, and returns the signer.
// It lets a caller start checking a download before it knows the image's
// name; Authorize then decides whether the signer may sign that name.
// Failures are *CheckError.
func (s *Store) Check(signed io.Reader, sig []byte) (*Key, error) {
	all, err := s.allKeys()
	if err != nil {
		return nil, err
	}
	var signer *openpgp.Entity
	if isArmored(sig) {
		signer, err = openpgp.CheckArmoredDetachedSignature(all, signed, bytes.NewReader(sig), nil)
	} else {
		signer, err = openpgp.CheckDetachedSignature(all, signed, bytes.NewReader(sig), nil)
	}
	if err == nil {
		return newKey(signer), nil
	}
	ce := &CheckError{Issuer: issuerOf(sig), Err: err}
	if signer == nil {
		signer = findIssuer(all, ce.Issuer)
	}
	if signer != nil {
		ce.Signer = newKey(signer)
	}
	if errors.Is(err, io.EOF) {
		ce.Err = errors.New("no signature found in the signature file")
	}
	return nil, ce
}

// allKeys returns every key the store holds, masks ignored: Authorize
// applies the masks for the image's name.
func (s *Store) allKeys() (openpgp.EntityList, error) {
	entries, err := s.List()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var el openpgp.EntityList
	// Later entries (local over system) take precedence for duplicates.
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Masked || seen[e.Fingerprint] {
			continue
		}
		seen[e.Fingerprint] = true
		el = append(el, e.Key.entity)
	}
	return el, nil
}

func isArmored(sig []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP"))
}

// Authorize decides whether the image called name is trusted, given the
// result of Check: a signature that checked out and a signer trusted for
// the name or as a root key. The error is one line naming image and key,
// in rkt's words ("image … verification failed", openpgp's reason) with
// saturn's detail after them, so that scripts grepping rkt's keep working.
func (s *Store) Authorize(name string, signer *Key, checkErr error) error {
	var err error
	if checkErr != nil {
		err = s.explain(name, checkErr)
	} else {
		err = s.authorizeSigner(name, signer)
	}
	if err != nil {
		return fmt.Errorf("image %q verification failed: %w", name, err)
	}
	return nil
}

func (s *Store) authorizeSigner(name string, signer *Key) error {
	keyring, err := s.Keyring(name)
	if err != nil {
		return err
	}
	for _, e := range keyring {
		if Fingerprint(e) == signer.Fingerprint {
			return nil
		}
	}
	return s.unknownSigner(name, "key "+signer.Describe(), signer.Fingerprint, len(keyring) == 0)
}

// unknownSigner is the refusal of a signature by a key not trusted for
// the image called name.
func (s *Store) unknownSigner(name, who, fingerprint string, noneTrusted bool) error {
	if fingerprint != "" {
		if other := s.trustedElsewhere(fingerprint); other != "" {
			return fmt.Errorf("openpgp: signature made by unknown entity (%s, which is trusted only for %s, not for this image)", who, other)
		}
	}
	if noneTrusted {
		return fmt.Errorf("openpgp: signature made by unknown entity (%s, but no keys are trusted for it: add one with 'saturn trust --prefix=%s')", who, name)
	}
	return fmt.Errorf("openpgp: signature made by unknown entity (%s, which is not trusted for it)", who)
}

// explain turns a failed Check into one line naming the key.
func (s *Store) explain(name string, err error) error {
	var ce *CheckError
	if !errors.As(err, &ce) {
		return fmt.Errorf("verify signature: %w", err)
	}
	who := "key " + ce.Issuer
	if ce.Signer != nil {
		who = "key " + ce.Signer.Describe()
	}
	var sigErr pgperrors.SignatureError
	var structErr pgperrors.StructuralError
	switch {
	case errors.Is(ce.Err, pgperrors.ErrUnknownIssuer):
		keyring, kerr := s.Keyring(name)
		return s.unknownSigner(name, who, "", kerr == nil && len(keyring) == 0)
	case errors.Is(ce.Err, pgperrors.ErrKeyRevoked):
		return fmt.Errorf("signed by %s, which has been revoked", who)
	case errors.Is(ce.Err, pgperrors.ErrKeyExpired):
		return fmt.Errorf("signed by %s, which has expired", who)
	case errors.Is(ce.Err, pgperrors.ErrSignatureExpired):
		return fmt.Errorf("the signature by %s has expired", who)
	case errors.As(ce.Err, &sigErr):
		return fmt.Errorf("openpgp: invalid signature: the signature by %s does not match the image (image tampered with or corrupt)", who)
	case errors.As(ce.Err, &structErr):
		return fmt.Errorf("malformed signature: %v", ce.Err)
	}
	return fmt.Errorf("verify signature by %s: %v", who, ce.Err)
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
func (s *Store) trustedElsewhere(fingerprint string) string {
	entries, err := s.List()
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if !e.Masked && e.Prefix != "" && e.Fingerprint == fingerprint {
			return "prefix " + e.Prefix
		}
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
