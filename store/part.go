package store

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"

	"github.com/piecefs/piecefs/meta"
)

// Part writes verified blocks of one piece into the piece's partial file,
// DIR/pieces/ab/<hex>.blocks; Commit records them, Abort forgets them (see
// "Partial pieces"). Several Parts of one piece may be open at once, for
// concurrent ranged fetches of it; each is used by one goroutine.
type Part struct {
	s     *Store
	p     meta.Piece
	e     *piece    // the partial piece, pinned while the Part is open; nil if p was complete at CreatePart
	f     *os.File  // the partial file, opened for this Part; nil if e is
	wrote *presence // blocks written and not yet committed, with their checksums

	open      bool  // neither committed nor aborted
	committed bool  // Commit was called; commitErr is its result
	commitErr error // returned again by a second Commit
}

// CreatePart returns a Part that writes verified blocks of piece p (digest
// and size as the manifest gives them) into its partial file. The caller
// must call Commit or Abort. If p is complete already, the Part writes
// nothing and its Commit succeeds; if the store holds p's digest, complete
// or partial, with another size, CreatePart fails with an error wrapping
// ErrSize.
func (s *Store) CreatePart(p meta.Piece) (*Part, error) {
	if p.Size < 0 {
		return nil, fmt.Errorf("create part of piece %s: negative size %d", p.Digest, p.Size)
	}
	if err := s.enter(); err != nil {
		return nil, fmt.Errorf("create part of piece %s: %w", p.Digest, err)
	}
	defer s.leave()
	e, f, err := s.openPart(p)
	if err != nil {
		return nil, fmt.Errorf("create part of piece %s: %w", p.Digest, err)
	}
	return &Part{s: s, p: p, e: e, f: f, wrote: newPresence(p), open: true}, nil
}

// WriteAt writes b, bytes of the piece the caller has verified, at offset
// off of the piece, and computes each block's checksum from b (not from the
// disk). off must be a multiple of the block size (64 KiB), and so must
// len(b) unless b ends the piece; other writes fail. Blocks already
// recorded are skipped, as is everything once the piece is complete. A
// failed write leaves the blocks written before it to be committed.
func (w *Part) WriteAt(b []byte, off int64) (int, error) {
	if !w.open {
		return 0, fmt.Errorf("write piece %s: %w", w.p.Digest, fs.ErrClosed)
	}
	if err := checkSpan(w.p.Size, off, int64(len(b))); err != nil {
		return 0, fmt.Errorf("write piece %s: %w", w.p.Digest, err)
	}
	if w.e == nil || w.s.has(w.p.Digest) {
		return len(b), nil
	}
	have := w.s.haveOf(w.e)
	first := int(off / blockSize)
	for i := first; int64(i-first)*blockSize < int64(len(b)); {
		if have.has(i) {
			i++
			continue
		}
		j := i // [i, j) is a run of blocks not recorded
		for j < len(have.sums) && int64(j-first)*blockSize < int64(len(b)) && !have.has(j) {
			j++
		}
		lo, hi := int64(i-first)*blockSize, min(int64(j-first)*blockSize, int64(len(b)))
		if n, err := w.write(b[lo:hi], i); err != nil {
			return int(lo) + n, fmt.Errorf("write piece %s: %w", w.p.Digest, err)
		}
		i = j
	}
	return len(b), nil
}

// write writes b, the blocks from block first on, notes those it wrote
// whole, and returns how many bytes it wrote.
func (w *Part) write(b []byte, first int) (int, error) {
	var n int
	err := w.s.step(stepWrite, func() (err error) {
		n, err = w.f.WriteAt(b, int64(first)*blockSize)
		return err
	})
	for i, rest := first, b[:n]; len(rest) > 0; i++ {
		k := min(len(rest), blockSize)
		if k < blockSize && int64(i)*blockSize+int64(k) != w.p.Size {
			break // a block written in part
		}
		w.wrote.set(i, crc32.Checksum(rest[:k], castagnoli))
		rest = rest[k:]
	}
	return n, err
}

// checkSpan checks that [off, off+n) is whole blocks of a piece of size
// bytes, or ends the piece.
func checkSpan(size, off, n int64) error {
	switch {
	case off < 0 || off%blockSize != 0:
		return fmt.Errorf("offset %d is not a multiple of the block size %d", off, blockSize)
	case n > size-off:
		return fmt.Errorf("%d bytes at offset %d run past the piece's end at %d", n, off, size)
	case n%blockSize != 0 && off+n != size:
		return fmt.Errorf("%d bytes at offset %d are not whole blocks of %d bytes and do not end the piece", n, off, blockSize)
	}
	return nil
}

// Commit makes the blocks this Part wrote durable and records them (see
// "Partial pieces"); if the piece then has every block, it becomes a
// complete piece, as a Writer's Commit makes one. If the piece became
// complete meanwhile (even if it was evicted since), Commit discards the
// blocks and succeeds. On failure nothing of this Part is recorded. A
// second call returns the first's result.
func (w *Part) Commit() error {
	if w.committed {
		return w.commitErr
	}
	if !w.open {
		return fmt.Errorf("commit piece %s: %w", w.p.Digest, fs.ErrClosed)
	}
	w.open, w.committed = false, true
	if err := w.commit(); err != nil {
		w.commitErr = fmt.Errorf("commit piece %s: %w", w.p.Digest, err)
	}
	return w.commitErr
}

func (w *Part) commit() error {
	if w.e == nil {
		return nil
	}
	defer w.s.releasePart(w.e)
	if err := w.s.enter(); err != nil {
		_ = w.f.Close() // nothing to report beyond ErrClosed
		return err
	}
	defer w.s.leave()
	if w.wrote.count == 0 && !w.wrote.full() { // full with no block: a piece of 0 bytes
		return w.f.Close()
	}
	return w.s.commitBlocks(w.f, w.e, w.wrote)
}

// Abort forgets the blocks this Part wrote: they are never served, and
// their bytes stay in the partial file until a commit of the same blocks
// overwrites them or the file is removed. It does nothing after Commit or
// an earlier Abort, so it can be deferred.
func (w *Part) Abort() error {
	if !w.open {
		return nil
	}
	w.open = false
	if w.e == nil {
		return nil
	}
	defer w.s.releasePart(w.e)
	if err := w.f.Close(); err != nil && !errors.Is(err, fs.ErrClosed) {
		return fmt.Errorf("abort piece %s: %w", w.p.Digest, err)
	}
	return nil
}
