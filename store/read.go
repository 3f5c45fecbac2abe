package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/piecefs/piecefs/meta"
)

// ReadAt reads len(b) bytes of the complete piece want starting at offset
// off, with the semantics of io.ReaderAt: fewer bytes come with io.EOF when
// the piece ends first. The first read of a piece in this process hashes all
// of it (see "Verification"). If the piece is not complete, is complete with
// another size than want.Size (see "Sizes"), or its file turns out to be
// missing, short or corrupt, the error wraps fs.ErrNotExist; in the last
// case the piece is dropped first, so that Has reports false and the caller
// fetches it again.
func (s *Store) ReadAt(want meta.Piece, b []byte, off int64) (int, error) {
	d := want.Digest
	if off < 0 {
		return 0, fmt.Errorf("read piece %s: negative offset %d", d, off)
	}
	pc, err := s.pinSized(want)
	if err != nil {
		return 0, fmt.Errorf("read piece %s: %w", d, err)
	}
	defer s.unpin(pc)
	if h := s.opts.readHook; h != nil {
		h(d)
	}
	n := min(int64(len(b)), max(pc.size-off, 0))
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	if err := s.verifyOnce(pc); err != nil {
		return 0, err
	}
	got, err := s.pread(pc, b[:n], off)
	if err == nil && n < int64(len(b)) {
		err = io.EOF
	}
	return got, err
}

// pread fills p from the file of the pinned piece record pc, which says the
// file holds enough bytes.
func (s *Store) pread(pc *piece, p []byte, off int64) (int, error) {
	d := pc.d
	f, release, err := s.files.acquire(pc)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, s.lost(d, nil, err)
	}
	if err != nil {
		return 0, fmt.Errorf("read piece %s: %w", d, err)
	}
	defer release()
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return n, s.lost(d, f, fmt.Errorf("file ends before byte %d: %w", off+int64(len(p)), io.ErrUnexpectedEOF))
	}
	return n, fmt.Errorf("read piece %s: %w", d, err)
}

// lost drops the piece d, whose file f (nil if it could not be opened) was
// found missing, short or corrupt, and returns the read's error.
func (s *Store) lost(d meta.Digest, f *os.File, cause error) error {
	s.log.WithError(cause).WithField("piece", d.String()).Warn("piece file on disk is damaged; dropped to be fetched again")
	if err := s.drop(d, f); err != nil {
		s.log.WithError(err).WithField("piece", d.String()).Warn("drop damaged piece")
	}
	return fmt.Errorf("read piece %s: %w; dropped to be fetched again: %w", d, cause, fs.ErrNotExist)
}

// drop forgets the piece d and removes its record and file, unless the file
// now at its path is not f: then a commit has replaced the bad file since it
// was opened, and that newer piece is kept.
func (s *Store) drop(d meta.Digest, f *os.File) error {
	mu := s.stripe(d)
	mu.Lock()
	defer mu.Unlock()
	s.files.evict(d)
	if replaced(s.piecePath(d), f) {
		return nil
	}
	s.forget(d)
	err := s.db.Update(deletePieces(d))
	// Remove the file even if the record stays: a record without its file
	// is dropped again on the next read or at the next Open.
	s.remove(s.piecePath(d))
	if err != nil {
		return fmt.Errorf("delete record: %w", err)
	}
	return nil
}

func (s *Store) forget(d meta.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.index.get(d); ok {
		s.index.remove(p)
	}
}

// replaced reports whether a file exists at name that is not f (any file, if
// f is nil).
func replaced(name string, f *os.File) bool {
	now, err := os.Stat(name)
	if err != nil {
		return false
	}
	if f == nil {
		return true
	}
	was, err := f.Stat()
	return err == nil && !os.SameFile(now, was)
}
