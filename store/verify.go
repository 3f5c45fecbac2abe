package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/piecefs/piecefs/meta"
)

// verifyOnce makes sure the pinned piece p has been hashed in this process
// before its bytes are served (see "Verification"). Concurrent first reads
// of one piece share one hash.
func (s *Store) verifyOnce(p *piece) error {
	if s.isVerified(p) {
		return nil
	}
	_, err, _ := s.verifying.Do(string(p.d[:]), func() (any, error) {
		if s.isVerified(p) { // verified by a flight that ended just now
			return nil, nil
		}
		return nil, s.verifyFile(p)
	})
	if err == nil && !s.isVerified(p) {
		// The flight joined was for another record of the digest (one
		// dropped since); it vouches for nothing about this one.
		return s.verifyFile(p)
	}
	return err
}

// verifyFile hashes the file of the pinned piece p through the open-file
// cache and marks p verified, or drops it if the file is damaged.
func (s *Store) verifyFile(p *piece) error {
	f, release, err := s.files.acquire(p)
	if errors.Is(err, fs.ErrNotExist) {
		return s.lost(p.d, nil, err)
	}
	if err != nil {
		return fmt.Errorf("verify piece %s: %w", p.d, err)
	}
	defer release()
	return s.checked(p, f, checkFile(f, p.d, p.size))
}

// checked acts on the outcome err of checking the file f of the pinned piece
// p: it marks p verified, drops it as damaged, or reports an I/O error.
func (s *Store) checked(p *piece, f *os.File, err error) error {
	switch {
	case err == nil:
		s.markVerified(p)
		return nil
	case errors.Is(err, ErrCorrupt) || errors.Is(err, io.ErrUnexpectedEOF):
		return s.lost(p.d, f, err)
	default:
		return fmt.Errorf("read piece %s: %w", p.d, err)
	}
}

// checkFile hashes f, which should hold exactly size bytes hashing to d.
// The error wraps io.ErrUnexpectedEOF if f is short and ErrCorrupt if it
// holds other bytes.
func checkFile(f io.ReaderAt, d meta.Digest, size int64) error {
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, size+1))
	switch {
	case err != nil:
		return err
	case n < size:
		return fmt.Errorf("file holds %d bytes, want %d: %w", n, size, io.ErrUnexpectedEOF)
	case n > size:
		return fmt.Errorf("file holds more than %d bytes: %w", size, ErrCorrupt)
	case meta.Digest(h.Sum(nil)) != d:
		return fmt.Errorf("%w (hashes to %s)", ErrCorrupt, meta.Digest(h.Sum(nil)))
	}
	return nil
}

// checkBytes is checkFile for bytes in memory.
func checkBytes(b []byte, d meta.Digest) error {
	if got := meta.Sum(b); got != d {
		return fmt.Errorf("%w (hashes to %s)", ErrCorrupt, got)
	}
	return nil
}

func (s *Store) isVerified(p *piece) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return p.verified
}

func (s *Store) markVerified(p *piece) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.verified = true
}
