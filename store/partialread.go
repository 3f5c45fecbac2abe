package store

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/piecefs/piecefs/meta"
)

// errAbsent is the error of a read of a partial piece that lacks a block of
// the range.
var errAbsent = fmt.Errorf("a block of the range is not on disk: %w", fs.ErrNotExist)

// Present reports whether ReadAt of [off, off+n) of p would find every
// block it needs on disk: p is complete, or partial with every block of
// the range (clamped to the piece) recorded. It does no I/O. It reports
// false after Close.
func (s *Store) Present(p meta.Piece, off, n int64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, _, err := s.findLocked(p, off, n)
	return err == nil && !s.closed
}

// pinRead pins, for a read of [off, off+n) of want, the complete piece
// want, or else its partial piece if every block of the range is recorded,
// registered as an operation like pin; the read counts as a use. For a
// partial piece it returns the recorded blocks, whose checksums the read
// checks against (nil for a complete piece: see blockSums). The caller must
// unpin the piece.
func (s *Store) pinRead(want meta.Piece, off, n int64) (*piece, *presence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	p, have, err := s.findLocked(want, off, n)
	if err != nil {
		return nil, nil, err
	}
	s.ops.Add(1)
	p.pins++
	s.index.touch(p, s.now())
	return p, have, nil
}

// findLocked returns the piece of want that holds every block of [off,
// off+n), and its recorded blocks if it is partial. A piece of another size
// (see pinSized), or a partial one verified against another block table, is
// a miss.
func (s *Store) findLocked(want meta.Piece, off, n int64) (*piece, *presence, error) {
	if p, ok := s.index.get(want.Digest); ok {
		return p, nil, sizeErr(p.size, want.Size)
	}
	p, ok := s.index.getPartial(want.Digest)
	switch {
	case !ok:
		return nil, nil, fs.ErrNotExist
	case p.size != want.Size:
		return nil, nil, sizeErr(p.size, want.Size)
	case p.have.table != want.Blocks:
		return nil, nil, fmt.Errorf("%w: %w", ErrOtherTable, fs.ErrNotExist)
	case !p.have.covers(off, n):
		return nil, nil, errAbsent
	}
	return p, p.have, nil
}

// lostPartial handles damage that a read of the partial piece e met: a
// block that fails its check is dropped (the piece's other blocks are still
// good); a file that is missing or short drops the whole partial piece. It
// returns the read's error.
func (s *Store) lostPartial(e *piece, cause error) error {
	log := s.log.WithError(cause).WithField("piece", e.d.String())
	var be *blockError
	if errors.As(cause, &be) {
		log.WithField("block", be.block).Warn("block of a partial piece on disk is damaged; dropped to be fetched again")
		s.dropBlock(e, be.block)
	} else {
		log.Warn("partial piece file on disk is damaged; dropped to be fetched again")
		s.dropPart(e)
	}
	return fmt.Errorf("read piece %s: %w; dropped to be fetched again: %w", e.d, cause, fs.ErrNotExist)
}

// dropBlock forgets block i of the partial piece e, then rewrites its
// record without it. A piece left with no block and no Part open is dropped
// whole.
func (s *Store) dropBlock(e *piece, i int) {
	mu := s.stripe(e.d)
	mu.Lock()
	defer mu.Unlock()
	s.mu.Lock()
	if !s.index.current(e) || !e.have.has(i) {
		s.mu.Unlock()
		return // dropped, completed, or this block dropped, meanwhile
	}
	have := e.have.without(i)
	if have.count == 0 && e.writers == 0 {
		s.mu.Unlock()
		s.dropPartLocked(e)
		return
	}
	s.index.forgetBlocks(e, have)
	s.mu.Unlock()
	write := putPartial(e.d, have)
	if have.count == 0 {
		write = deletePieces(e.d) // the open Parts keep the file
	}
	if err := s.db.Update(write); err != nil {
		// Not served by this process; the next one checks the block again.
		s.log.WithError(err).WithField("piece", e.d.String()).Warn("record a dropped block")
	}
}

// dropPart drops the partial piece e (see dropPartLocked).
func (s *Store) dropPart(e *piece) {
	mu := s.stripe(e.d)
	mu.Lock()
	defer mu.Unlock()
	s.dropPartLocked(e)
}

// dropPartLocked forgets the partial piece e, if it is still the index's,
// and deletes its record, then its file. Parts still open on it fail to
// commit. A failure is logged: the piece is forgotten by this process
// either way, and Open drops a record without its file or removes a file
// without its record. The caller holds e's stripe.
func (s *Store) dropPartLocked(e *piece) {
	s.mu.Lock()
	current := s.index.current(e)
	if current {
		s.index.remove(e)
	}
	s.mu.Unlock()
	if !current {
		return
	}
	s.files.evict(e.d)
	if err := s.db.Update(deletePieces(e.d)); err != nil {
		s.log.WithError(err).WithField("piece", e.d.String()).Warn("delete the record of a dropped partial piece")
	}
	s.remove(s.partialPath(e.d))
}

// supersedeLocked forgets the partial piece of d, if there is one, once d
// has been recorded complete (a transaction that deleted its partial
// record), and removes its file. Parts still open on it discard their
// blocks at Commit. The caller holds d's stripe.
func (s *Store) supersedeLocked(d meta.Digest) {
	s.mu.Lock()
	e, ok := s.index.getPartial(d)
	if ok {
		s.index.remove(e)
		e.completed = true
	}
	s.mu.Unlock()
	if ok {
		s.remove(s.partialPath(d))
	}
}
