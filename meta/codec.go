package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxManifestSize bounds the encoded manifest a reader accepts, so a hostile
// origin cannot make a mount allocate without limit. At roughly 200 bytes an
// entry it allows trees of millions of files.
const MaxManifestSize = 1 << 30

// Decode parses and validates an encoded manifest.
func Decode(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("manifest: %d bytes is more than the limit of %d", len(b), MaxManifestSize)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("manifest: trailing data after the JSON document")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Encode returns the manifest's canonical encoding; its sha256 is the
// manifest's digest. The manifest must have passed Validate.
func (m *Manifest) Encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	return append(b, '\n'), nil
}
