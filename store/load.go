package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/piecefs/piecefs/meta"
)

// Load returns all bytes of the complete piece want, every block checked
// against its checksum on every call (the whole piece against its digest
// if it is trusted on another block table than want's; see
// "Verification"), so that the
// caller can keep them (in a memory tier, say) without reading the piece
// twice. If the piece is not complete, is complete with another size than
// want.Size (see "Sizes"), or its file turns out to be missing, short or
// corrupt, the error wraps fs.ErrNotExist; in the last case the piece is
// dropped first, as by ReadAt.
func (s *Store) Load(want meta.Piece) ([]byte, error) {
	d := want.Digest
	p, err := s.pinSized(want)
	if err != nil {
		return nil, fmt.Errorf("load piece %s: %w", d, err)
	}
	defer s.unpin(p)
	if h := s.opts.readHook; h != nil {
		h(d)
	}
	sums, err := s.knownSums(p)
	if err != nil {
		return nil, err
	}
	if t := s.tableOf(p); t != (meta.Digest{}) && t != want.Blocks {
		// Trusted on a table this reader does not trust: the whole piece
		// is checked against its digest below, as a piece without
		// checksums is, and then no longer trusted on a table alone.
		sums = nil
	}
	f, release, err := s.files.acquire(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, s.lost(d, nil, err)
	}
	if err != nil {
		return nil, fmt.Errorf("load piece %s: %w", d, err)
	}
	defer release()
	b := make([]byte, p.size)
	n, err := f.ReadAt(b, 0)
	switch {
	case n == len(b):
		err = checkLoaded(b, d, sums)
	case err == nil || errors.Is(err, io.EOF):
		err = fmt.Errorf("file holds %d bytes, want %d: %w", n, p.size, io.ErrUnexpectedEOF)
	}
	if err := s.checked(p, f, err); err != nil {
		return nil, err
	}
	if sums == nil {
		s.recordSums(p, sumBlocks(b))
	}
	return b, nil
}

// checkLoaded checks b, all bytes of the piece d, against the checksums of
// its blocks, or against d itself if it has none (an older version
// recorded it).
func checkLoaded(b []byte, d meta.Digest, sums []uint32) error {
	if sums == nil {
		return checkBytes(b, d)
	}
	return checkBlocks(b, 0, sums)
}
