package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/piecefs/piecefs/meta"
)

// checked acts on the outcome err of checking the file f of the pinned piece
// p: nil stays nil, damage drops the piece or, for a partial piece, the
// damaged block (and says so), and any other error is an I/O error,
// reported.
func (s *Store) checked(p *piece, f *os.File, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrCorrupt) || errors.Is(err, io.ErrUnexpectedEOF):
		return s.lostPiece(p, f, err)
	default:
		return fmt.Errorf("read piece %s: %w", p.d, err)
	}
}

// hashFile hashes f, which should hold exactly size bytes hashing to d, and
// returns the checksums of its blocks, computed in the same pass. The error
// wraps io.ErrUnexpectedEOF if f is short and ErrCorrupt if it holds other
// bytes.
func hashFile(f io.ReaderAt, d meta.Digest, size int64) ([]uint32, error) {
	h := sha256.New()
	var sums summer
	n, err := io.Copy(io.MultiWriter(h, &sums), io.NewSectionReader(f, 0, size+1))
	switch {
	case err != nil:
		return nil, err
	case n < size:
		return nil, fmt.Errorf("file holds %d bytes, want %d: %w", n, size, io.ErrUnexpectedEOF)
	case n > size:
		return nil, fmt.Errorf("file holds more than %d bytes: %w", size, ErrCorrupt)
	case meta.Digest(h.Sum(nil)) != d:
		return nil, fmt.Errorf("%w (hashes to %s)", ErrCorrupt, meta.Digest(h.Sum(nil)))
	}
	return sums.Sums(), nil
}

// checkBytes hashes b, a whole piece in memory, against its digest d.
func checkBytes(b []byte, d meta.Digest) error {
	if got := meta.Sum(b); got != d {
		return fmt.Errorf("%w (hashes to %s)", ErrCorrupt, got)
	}
	return nil
}
