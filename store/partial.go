package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/piecefs/piecefs/internal/durable"
	"github.com/piecefs/piecefs/meta"
)

// ErrOtherTable is wrapped by the error of CreatePart, and (with
// fs.ErrNotExist) of a read, that names a partial piece with another block
// table than the one its recorded blocks were verified against: those
// blocks are served only to readers that trust the same table.
var ErrOtherTable = errors.New("the cache holds blocks of this piece verified against another block table")

// errPartDropped is the error of a Part's Commit whose partial piece was
// dropped (found damaged, or its completion failed) while the Part was
// open.
var errPartDropped = errors.New("the partial piece was dropped while this part was open; its blocks were not recorded")

// openPart pins the partial piece p for a new Part, making it if there is
// none, and opens its file for writing. It returns no piece if p is
// complete.
func (s *Store) openPart(p meta.Piece) (*piece, *os.File, error) {
	mu := s.stripe(p.Digest)
	mu.Lock()
	defer mu.Unlock()
	e, fresh, err := s.pinPart(p)
	if err != nil || e == nil {
		return nil, nil, err
	}
	f, err := s.openPartialFile(p, fresh)
	if err != nil {
		s.releasePartLocked(e)
		return nil, nil, err
	}
	return e, f, nil
}

// pinPart pins the partial piece p for a Part, adding it to the index with
// no block if it is not there; fresh says it was added.
func (s *Store) pinPart(p meta.Piece) (e *piece, fresh bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.index.get(p.Digest); ok {
		if c.size != p.Size {
			return nil, false, fmt.Errorf("%w: %d bytes, the part is of %d", ErrSize, c.size, p.Size)
		}
		return nil, false, nil
	}
	e, ok := s.index.getPartial(p.Digest)
	switch {
	case !ok:
		e = &piece{d: p.Digest, size: p.Size, atime: s.now(), dirty: true, have: newPresence(p), part: true}
		s.index.add(e)
		fresh = true
	case e.size != p.Size:
		return nil, false, fmt.Errorf("%w: %d bytes, the part is of %d", ErrSize, e.size, p.Size)
	case e.have.table != p.Blocks:
		return nil, false, ErrOtherTable
	}
	e.pins++
	e.writers++
	return e, fresh, nil
}

// openPartialFile opens the partial file of p for writing. A fresh one is
// given its full size at once (sparse), so that the reconcile can check it
// against the record's size; a file left there by an earlier partial piece
// keeps its bytes, which are unrecorded until written and committed again.
func (s *Store) openPartialFile(p meta.Piece, fresh bool) (*os.File, error) {
	if err := s.beforeWrite(); err != nil {
		return nil, err
	}
	if err := s.fanOut(p.Digest); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.partialPath(p.Digest), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if fresh {
		if err := f.Truncate(p.Size); err != nil {
			_ = f.Close() // the truncate's error says more
			return nil, fmt.Errorf("size partial file: %w", err)
		}
	}
	return f, nil
}

// haveOf returns the recorded blocks of the partial piece e.
func (s *Store) haveOf(e *piece) *presence {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return e.have
}

// releasePart unpins the partial piece e for a Part that is done (see
// releasePartLocked).
func (s *Store) releasePart(e *piece) {
	if s.enter() != nil {
		// Closed: no file is touched any more. The next Open removes a
		// partial file without a record.
		s.mu.Lock()
		e.pins--
		e.writers--
		s.mu.Unlock()
		return
	}
	defer s.leave()
	mu := s.stripe(e.d)
	mu.Lock()
	defer mu.Unlock()
	s.releasePartLocked(e)
}

// releasePartLocked unpins the partial piece e for a Part that is done. A
// partial piece left with no block recorded and no Part open is forgotten
// and its file removed. The caller holds e's stripe and has entered.
func (s *Store) releasePartLocked(e *piece) {
	s.mu.Lock()
	e.pins--
	e.writers--
	empty := e.writers == 0 && e.have.count == 0 && s.index.current(e)
	if empty {
		s.index.remove(e)
	}
	s.mu.Unlock()
	if empty {
		s.files.evict(e.d)
		s.remove(s.partialPath(e.d))
	}
}

// commitBlocks makes the blocks wrote, written through f to the partial
// file of e, durable, and records them; if they were the piece's last, it
// makes the piece complete instead (see "Partial pieces"). f is closed on
// every path.
func (s *Store) commitBlocks(f *os.File, e *piece, wrote *presence) error {
	err := s.step(stepFsync, f.Sync)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return err
	}
	// Made before the stripe is taken: an eviction takes its victims'
	// stripes, one of which may be e's.
	reserved := wrote.bytes
	if err := s.reserve(reserved); err != nil {
		return err
	}
	mu := s.stripe(e.d)
	mu.Lock()
	defer mu.Unlock()
	have, complete, current := s.partState(e)
	switch {
	case complete:
		s.unreserve(reserved) // discarded: another commit completed the piece
		return nil
	case !current:
		s.unreserve(reserved)
		return errPartDropped
	case wrote.full():
		// This Part wrote every block: its own checksums are those of
		// what it wrote last into each.
		return s.finishPart(e, wrote, true, have.count > 0, reserved)
	}
	merged := have.with(wrote)
	if merged.full() {
		return s.finishPart(e, merged, false, have.count > 0, reserved)
	}
	return s.recordPart(e, have, merged, reserved)
}

// partState returns the recorded blocks of the partial piece e, whether
// its digest is complete (or was made complete from e, and perhaps evicted
// since), and whether e is still the index's partial piece.
func (s *Store) partState(e *piece) (have *presence, complete, current bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, complete = s.index.get(e.d)
	return e.have, complete || e.completed, s.index.current(e)
}

// recordPart records merged, the blocks of the partial piece e: those it
// had (have) and those just made durable. The caller holds e's stripe; the
// reservation is used up or released on every path.
func (s *Store) recordPart(e *piece, have, merged *presence, reserved int64) error {
	if have.count == 0 {
		// The file's first record: its directory entry must be durable
		// too, or a crash could keep the record and lose the file.
		err := s.step(stepDirsync, func() error { return durable.SyncDir(filepath.Dir(s.partialPath(e.d))) })
		if err != nil {
			s.unreserve(reserved)
			return err
		}
	}
	if err := s.step(stepCommit, func() error { return s.commitRecords(putPartial(e.d, merged)) }); err != nil {
		s.unreserve(reserved)
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index.record(e, merged, reserved, s.now())
	return nil
}

// finishPart makes the partial piece e, all of whose blocks are durable
// (merged), a complete piece: given the piece's name, then recorded with
// every block's checksum in the transaction that deletes its partial
// record, if it has one (recorded). A piece with a block table, every
// block of which its writers verified against that table, is recorded
// trusted on the table, not hashed (see "Verification"); one without,
// put together by more than one Part, is first hashed whole against its
// digest (one Part that wrote every block verified them against the
// digest itself).
//
// The partial record, if there is one, keeps its file at every step: the
// piece's name is a second name of the file (a hard link) until the
// transaction has deleted the record, and only then does <hex>.blocks go.
// A crash before the transaction leaves the partial piece as recorded
// beside a piece file that no record names, which Open hashes and records
// complete (finishCompletions); a failure removes the piece's name and
// leaves the partial piece as it was. Without a partial record, or on a
// file system without hard links, the file is renamed, as a Writer's is:
// then a crash before the transaction leaves the partial record, if any,
// without its file, and Open finishes the completion all the same, while a
// failure drops the partial piece. The caller holds e's stripe; the
// reservation is used up or released on every path.
func (s *Store) finishPart(e *piece, merged *presence, alone, recorded bool, reserved int64) error {
	sums, table := merged.sums, merged.table
	if !alone && table == (meta.Digest{}) {
		var err error
		if sums, err = s.hashPartial(e, merged.sums); err != nil {
			s.unreserve(reserved)
			return err
		}
	}
	blocks, final := s.partialPath(e.d), s.piecePath(e.d)
	linked, err := s.nameComplete(blocks, final, recorded)
	if err != nil {
		s.unreserve(reserved) // nothing moved: the partial piece stays as it was
		return err
	}
	s.files.evict(e.d) // a read of the partial piece may hold the file
	err = s.step(stepDirsync, func() error { return durable.SyncDir(filepath.Dir(final)) })
	if err == nil {
		err = s.step(stepCommit, func() error { return s.commitRecords(putPiece(e.d, e.size, sums, table)) })
	}
	if err != nil {
		s.remove(final)
		if !linked {
			// The partial file has lost its name; its record goes too.
			s.dropPartLocked(e)
		}
		s.unreserve(reserved)
		return err
	}
	s.mu.Lock()
	s.index.remove(e)
	e.completed = true
	s.index.commit(&piece{d: e.d, size: e.size, atime: s.now(), dirty: true, sums: sums, table: table}, reserved)
	s.mu.Unlock()
	if linked {
		// Its record is gone: so goes its name. A crash first, or a
		// failure, leaves a partial file without a record, which Open
		// removes.
		err := s.step(stepUnlinkBlocks, func() error { return os.Remove(blocks) })
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.leftOver()
			s.log.WithError(err).WithField("piece", e.d.String()).Warn("remove the partial file of a piece made complete")
		}
	}
	return nil
}

// nameComplete gives the partial file blocks the complete piece's name
// final, and reports whether blocks keeps its name too. If a partial
// record names blocks (recorded), final is a hard link, so that the record
// never names a missing file; on a file system without hard links, and
// with no record to keep, it is a rename. A file already named final has
// no record (the piece is not complete): it is replaced, as a rename
// replaces it.
func (s *Store) nameComplete(blocks, final string, recorded bool) (linked bool, err error) {
	if recorded {
		err = s.step(stepLink, func() error {
			err := os.Link(blocks, final)
			if errors.Is(err, fs.ErrExist) {
				s.remove(final)
				err = os.Link(blocks, final)
			}
			return err
		})
		if err == nil || !noHardLinks(err) {
			return err == nil, err
		}
	}
	return false, s.step(stepRename, func() error { return os.Rename(blocks, final) })
}

// noHardLinks reports whether err, from link(2), says that the file system
// does not make hard links (or no more of them to this file).
func noHardLinks(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EPERM, syscall.ENOTSUP, syscall.EOPNOTSUPP, syscall.ENOSYS, syscall.EXDEV, syscall.EMLINK} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// hashPartial hashes the partial file of e, every block of which is
// durable, against e's digest, and returns its blocks' checksums. If it
// does not hash to the digest, the partial piece is dropped: one of the
// blocks recorded is not the piece's (damaged on disk, or verified against
// a block table that does not describe the piece).
func (s *Store) hashPartial(e *piece, recorded []uint32) ([]uint32, error) {
	f, err := os.Open(s.partialPath(e.d))
	if err != nil {
		s.dropPartLocked(e)
		return nil, fmt.Errorf("hash partial file: %w", err)
	}
	defer f.Close() // read-only: Close has nothing to report
	sums, err := hashFile(f, e.d, e.size)
	switch {
	case errors.Is(err, ErrCorrupt) || errors.Is(err, io.ErrUnexpectedEOF):
		s.log.WithError(err).WithField("piece", e.d.String()).Warn("blocks of a partial piece do not make the piece; dropped to be fetched again")
		s.dropPartLocked(e)
		return nil, fmt.Errorf("hash partial file: %w", err)
	case err != nil:
		return nil, fmt.Errorf("hash partial file: %w", err)
	}
	if !slices.Equal(sums, recorded) {
		// The bytes are the piece's, so their checksums are right; a
		// block was rewritten since its record with other bytes.
		s.log.WithField("piece", e.d.String()).Warn("recorded checksums of a partial piece did not match its file, which hashes right; recorded those of the file")
	}
	return sums, nil
}
