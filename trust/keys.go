// Package trust is saturn's trust store: the OpenPGP public keys an
// administrator trusts to sign images, kept in rkt's on-disk layout, and
// the verification of detached image signatures against them.
//
// Layout, under both the local (/etc/saturn) and the system
// (/usr/lib/saturn) configuration directory:
//
//	trustedkeys/root.d/<fingerprint>                 trusted for every image
//	trustedkeys/prefix.d/<name prefix>/<fingerprint> trusted for images whose
//	                                                 name starts with the prefix
//
// The prefix is an appc name, so its slashes become directories, exactly as
// rkt stores it; keys trusted with rkt therefore carry over. A key file is
// an ASCII-armored public key named by its lowercase hex fingerprint. An
// empty file in the local directory masks the system key of that name.
package trust

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

const publicKeyBlock = "PGP PUBLIC KEY BLOCK"

// Key is one public key as read from a key file or a download.
type Key struct {
	// Fingerprint is the primary key's fingerprint in lowercase hex, the
	// name of the key's file in the store.
	Fingerprint string
	// UserIDs are the key's identities, e.g. "Name (comment) <mail>".
	UserIDs []string
	// Armored is the key in ASCII armor, as it is written to the store.
	Armored []byte

	entity *openpgp.Entity
}

// ParseKeys reads every public key in data, which may be ASCII-armored or
// binary (as gpg --export writes either).
func ParseKeys(data []byte) ([]*Key, error) {
	armored := bytes.Contains(data, []byte("-----BEGIN PGP"))
	var el openpgp.EntityList
	var err error
	if armored {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("read OpenPGP public key: %w", err)
	}
	if len(el) == 0 {
		return nil, errors.New("read OpenPGP public key: no key found")
	}
	keys := make([]*Key, 0, len(el))
	for _, e := range el {
		if e.PrivateKey != nil {
			return nil, errors.New("read OpenPGP public key: refusing a private key; export the public key only (gpg --armor --export)")
		}
		k := newKey(e)
		// A single armored key is stored byte for byte, as rkt does; a key
		// out of a bundle or a binary export is re-armored on its own.
		if armored && len(el) == 1 {
			k.Armored = append([]byte(nil), data...)
		} else if k.Armored, err = armorEntity(e); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func newKey(e *openpgp.Entity) *Key {
	k := &Key{Fingerprint: Fingerprint(e), entity: e}
	for name := range e.Identities {
		k.UserIDs = append(k.UserIDs, name)
	}
	sort.Strings(k.UserIDs)
	return k
}

func armorEntity(e *openpgp.Entity) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, publicKeyBlock, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, fmt.Errorf("serialize key %s: %w", Fingerprint(e), err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Fingerprint is the lowercase hex fingerprint of e's primary key.
func Fingerprint(e *openpgp.Entity) string {
	return hex.EncodeToString(e.PrimaryKey.Fingerprint)
}

// FormatFingerprint groups a hex fingerprint in blocks of four uppercase
// digits, the way gpg prints it for humans to compare.
func FormatFingerprint(fp string) string {
	fp = strings.ToUpper(fp)
	var b strings.Builder
	for i := 0; i < len(fp); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
			if i == len(fp)/2 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(fp[i:min(i+4, len(fp))])
	}
	return b.String()
}

// Describe names a key for messages: its fingerprint and first user id.
func (k *Key) Describe() string {
	if len(k.UserIDs) == 0 {
		return k.Fingerprint
	}
	return fmt.Sprintf("%s (%s)", k.Fingerprint, k.UserIDs[0])
}

// Problem says why k cannot be trusted at time now, or "" when it can:
// revoked and expired keys are refused when added and when verifying.
func (k *Key) Problem(now time.Time) string {
	e := k.entity
	if e.Revoked(now) {
		return "revoked"
	}
	sig, _ := e.PrimarySelfSignature()
	if sig != nil && e.PrimaryKey.KeyExpired(sig, now) {
		return "expired"
	}
	return ""
}

// issuerOf returns the key id that made the first signature in the
// detached signature sig (armored or binary), for messages about keys that
// are not in the keyring.
func issuerOf(sig []byte) string {
	var r io.Reader = bytes.NewReader(sig)
	if block, err := armor.Decode(bytes.NewReader(sig)); err == nil {
		r = block.Body
	}
	p, err := packet.NewReader(r).Next()
	if err != nil {
		return "unknown"
	}
	s, ok := p.(*packet.Signature)
	if !ok {
		return "unknown"
	}
	if len(s.IssuerFingerprint) > 0 {
		return hex.EncodeToString(s.IssuerFingerprint)
	}
	if s.IssuerKeyId != nil {
		return fmt.Sprintf("%016x", *s.IssuerKeyId)
	}
	return "unknown"
}

// PrintReview prints what a user checks before trusting a key, as rkt
// did: the prefix, where the key came from, its fingerprint and user ids.
func PrintReview(w io.Writer, prefix, location string, k *Key) {
	if prefix == "" {
		fmt.Fprintln(w, "Root key (trusted for all images)")
	} else {
		fmt.Fprintf(w, "Prefix: %q\n", prefix)
	}
	fmt.Fprintf(w, "Key: %q\n", location)
	fmt.Fprintf(w, "GPG key fingerprint is: %s\n", FormatFingerprint(k.Fingerprint))
	for _, uid := range k.UserIDs {
		fmt.Fprintf(w, "  %s\n", uid)
	}
}
