package fetch

import (
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
// what the origin says it will send: more than limit fails at once. The
// buffer grows as bytes arrive (see grow), so that an origin announcing a
// gigabyte and trickling it costs memory in proportion to what it sent.
func readLimited(r io.Reader, limit, sizeHint int64, want meta.Digest) ([]byte, error) {
	if sizeHint > limit {
		return nil, fmt.Errorf("%w: Content-Length %d, limit %d", ErrTooLarge, sizeHint, limit)
	}
	h := sha256.New()
	buf := make([]byte, 0, grow(0, sizeHint))
	for {
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		if len(buf) == cap(buf) {
			buf = append(make([]byte, 0, grow(len(buf), sizeHint)), buf...)
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), int(limit)+1)])
		h.Write(buf[len(buf) : len(buf)+n])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	if err := check(h, want); err != nil {
		return nil, err
	}
	return buf, nil
}

// minBuffer is the first allocation of readLimited's buffer.
const minBuffer = 64 << 10

// grow returns the capacity for a buffer that holds have bytes and is full.
// It doubles, so that the bytes received make up at least half the buffer;
// with an announced size hint, once doubling would reach past a half of the
// hint it jumps to the hint itself, so that an honest origin's body ends in
// a buffer of exactly its size without the last doubling's spare (the
// buffer is then at most four times what has arrived).
func grow(have int, hint int64) int {
	next := max(2*have, minBuffer)
	if hint > 0 && int64(have) < hint && int64(2*next) > hint {
		return int(hint) + 1 // room to see a body that runs past its length
	}
	return next
}

func check(h hash.Hash, want meta.Digest) error {
	var got meta.Digest
	h.Sum(got[:0])
	if got != want {
		return fmt.Errorf("%w: got %s", ErrCorrupt, got)
	}
	return nil
}
