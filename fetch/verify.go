package fetch

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/piecefs/piecefs/meta"
)

// readExact reads exactly size bytes from r, hashing them in the same pass,
// and returns them only if r ends right after them and they hash to want.
func readExact(r io.Reader, size int64, want meta.Digest) ([]byte, error) {
	h := sha256.New()
	buf := make([]byte, size)
	n, err := io.ReadFull(io.TeeReader(r, h), buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: got %d of %d bytes", ErrShortBody, n, size)
	}
	if err != nil {
		return nil, err
	}
	if err := expectEOF(r, size); err != nil {
		return nil, err
	}
	if err := check(h, want); err != nil {
		return nil, err
	}
	return buf, nil
}

// expectEOF fails unless r has nothing left after the size bytes read.
func expectEOF(r io.Reader, size int64) error {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: more than %d bytes", ErrLongBody, size)
	case errors.Is(err, io.EOF):
		return nil
	}
	return err
}

// readLimited reads all of r, up to limit bytes, hashing as it goes, and
// returns the bytes only if they hash to want. sizeHint, if positive, is
// what the origin says it will send: more than limit fails at once, but no
// more than maxPrealloc of it is allocated before the bytes arrive, so that
// an origin announcing a gigabyte and trickling it costs memory only for
// what it has sent.
func readLimited(r io.Reader, limit, sizeHint int64, want meta.Digest) ([]byte, error) {
	if sizeHint > limit {
		return nil, fmt.Errorf("%w: Content-Length %d, limit %d", ErrTooLarge, sizeHint, limit)
	}
	var buf bytes.Buffer
	if sizeHint > 0 {
		buf.Grow(int(min(sizeHint, maxPrealloc)))
	}
	h := sha256.New()
	n, err := buf.ReadFrom(io.TeeReader(io.LimitReader(r, limit+1), h))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	if err := check(h, want); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxPrealloc bounds the buffer readLimited allocates on an origin's word
// alone; beyond it the buffer grows as bytes arrive.
const maxPrealloc = 1 << 20

func check(h hash.Hash, want meta.Digest) error {
	var got meta.Digest
	h.Sum(got[:0])
	if got != want {
		return fmt.Errorf("%w: got %s", ErrCorrupt, got)
	}
	return nil
}
