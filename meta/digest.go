package meta

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// DigestPrefix is the algorithm prefix of a digest's text form.
const DigestPrefix = "sha256:"

// Digest is the sha256 of a piece or a manifest: the name it is stored and
// fetched under.
type Digest [sha256.Size]byte

// Sum returns the digest of b.
func Sum(b []byte) Digest { return sha256.Sum256(b) }

// ParseDigest parses "sha256:<64 lowercase hex>".
func ParseDigest(s string) (Digest, error) {
	var d Digest
	h, ok := strings.CutPrefix(s, DigestPrefix)
	if !ok {
		return d, fmt.Errorf("digest %q: want %s followed by 64 hex digits", s, DigestPrefix)
	}
	return parseHex(h)
}

// ParseHex parses a digest written as 64 lowercase hex digits, the form used
// in file names.
func ParseHex(h string) (Digest, error) { return parseHex(h) }

func parseHex(h string) (Digest, error) {
	var d Digest
	if len(h) != 2*len(d) || strings.ToLower(h) != h {
		return d, fmt.Errorf("digest %q: want 64 lowercase hex digits", h)
	}
	if _, err := hex.Decode(d[:], []byte(h)); err != nil {
		return d, fmt.Errorf("digest %q: %w", h, err)
	}
	return d, nil
}

// String returns the text form, "sha256:<hex>".
func (d Digest) String() string { return DigestPrefix + d.Hex() }

// Hex returns the 64 hex digits without the algorithm prefix.
func (d Digest) Hex() string { return hex.EncodeToString(d[:]) }

// MarshalText implements encoding.TextMarshaler.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}
