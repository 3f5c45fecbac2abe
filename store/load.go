package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/piecefs/piecefs/meta"
)

// Load returns all bytes of the complete piece want, hashed against its
// digest on every call, so that the caller can keep them (in a memory tier,
// say) without reading the piece twice. If the piece is not complete, is
// complete with another size than want.Size (see "Sizes"), or its file turns
// out to be missing, short or corrupt, the error wraps fs.ErrNotExist; in
// the last case the piece is dropped first, as by ReadAt.
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
		err = checkBytes(b, d)
	case err == nil || errors.Is(err, io.EOF):
		err = fmt.Errorf("file holds %d bytes, want %d: %w", n, p.size, io.ErrUnexpectedEOF)
	}
	if err := s.checked(p, f, err); err != nil {
		return nil, err
	}
	return b, nil
}
