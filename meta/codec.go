package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxManifestSize bounds the encoded manifest a reader accepts, so a hostile
// origin cannot make a mount allocate without limit. At roughly 160 bytes an
// entry it allows trees of millions of files.
const MaxManifestSize = 1 << 30

// Decode parses and validates an encoded manifest.
//
// A manifest as Encode writes it is read by a fast path of its own
// (decodeCanonical); any other document, and every error, by decodeJSON.
func Decode(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("manifest: %d bytes is more than the limit of %d", len(b), MaxManifestSize)
	}
	m, ok := decodeCanonical(b)
	if !ok {
		var err error
		if m, err = decodeJSON(b); err != nil {
			return nil, err
		}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeJSON parses a manifest with encoding/json, the reference for what
// a manifest means.
//
// It reads the document one element of the pieces and entries arrays at a
// time, not as one value: encoding/json would otherwise copy the whole
// document into a buffer of its own and grow the arrays by copying, each
// of which costs about as much memory as the decoded manifest. Arrays are
// sized up front from a count of their keys, and refused beyond MaxEntries
// elements, so the memory a manifest can claim is bounded by its size and
// by MaxEntries.
func decodeJSON(b []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := m.decodeObject(dec, b); err != nil {
		return nil, fmt.Errorf("manifest: decode: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("manifest: trailing data after the JSON document")
	}
	return &m, nil
}

// decodeObject decodes the top-level object as json.Unmarshal would into
// a Manifest: keys match field names without regard to case, unknown keys
// are skipped, null leaves a field as it is, and a repeated key wins.
func (m *Manifest) decodeObject(dec *json.Decoder, b []byte) error {
	if err := expect(dec, json.Delim('{'), "the manifest is not a JSON object"); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // inside an object, Token returns keys as strings
		switch {
		case strings.EqualFold(key, "format"):
			err = dec.Decode(&m.Format)
		case strings.EqualFold(key, "version"):
			err = dec.Decode(&m.Version)
		case strings.EqualFold(key, "pieceSize"):
			err = dec.Decode(&m.PieceSize)
		case strings.EqualFold(key, "blockSize"):
			err = dec.Decode(&m.BlockSize)
		case strings.EqualFold(key, "pieces"):
			m.Pieces, err = decodeArray(dec, key, m.Pieces, countHint(b, `"digest"`))
		case strings.EqualFold(key, "entries"):
			m.Entries, err = decodeArray(dec, key, m.Entries, countHint(b, `"path"`))
		case strings.EqualFold(key, "image"):
			err = dec.Decode(&m.Image)
		case strings.EqualFold(key, "prefetch"):
			err = dec.Decode(&m.Prefetch)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return err
		}
	}
	return expect(dec, json.Delim('}'), "the manifest object is not closed")
}

// decodeArray decodes a JSON array of at most MaxEntries elements, into a
// slice of capacity hint unless s has room, or null into nil.
func decodeArray[T any](dec *json.Decoder, key string, s []T, hint int) ([]T, error) {
	tok, err := dec.Token()
	switch {
	case err != nil:
		return s, err
	case tok == nil:
		return nil, nil
	case tok != json.Delim('['):
		return s, fmt.Errorf("%s: want an array", key)
	}
	if s = s[:0]; cap(s) < hint {
		s = make([]T, 0, hint)
	}
	for dec.More() {
		if len(s) == MaxEntries {
			return s, fmt.Errorf("%s: more than %d", key, MaxEntries)
		}
		s = append(s, *new(T))
		if err := dec.Decode(&s[len(s)-1]); err != nil {
			return s, fmt.Errorf("%s[%d]: %w", key, len(s)-1, err)
		}
	}
	return s, expect(dec, json.Delim(']'), key+": the array is not closed")
}

// countHint returns how many times key occurs in b, at most MaxEntries: in
// a manifest as publishers write it, the number of entries ("path") or
// pieces ("digest"). A quote inside a JSON string is escaped, so only keys
// count. It is a capacity hint only; a manifest that spells keys another
// way decodes the same, growing its arrays as it goes.
func countHint(b []byte, key string) int {
	return min(bytes.Count(b, []byte(key)), MaxEntries)
}

func expect(dec *json.Decoder, want json.Delim, msg string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return errors.New(msg)
	}
	return nil
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
