package aci

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// IDPrefix starts every image id: the appc image id is the sha512 of the
// uncompressed tar.
const IDPrefix = "sha512-"

// ImageID returns the appc image id of an uncompressed ACI tar stream,
// reading it to the end.
func ImageID(plainTar io.Reader) (string, error) {
	h := sha512.New()
	if _, err := io.CopyBuffer(h, plainTar, make([]byte, readBufSize)); err != nil {
		return "", fmt.Errorf("hash image: %w", err)
	}
	return idOf(h), nil
}

func idOf(h hash.Hash) string {
	return IDPrefix + hex.EncodeToString(h.Sum(nil))
}
