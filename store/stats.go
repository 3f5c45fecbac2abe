package store

import "github.com/piecefs/piecefs/meta"

// Stats is a snapshot of the store for status and metrics.
type Stats struct {
	Bytes        int64 // bytes of pieces and recorded blocks held (what counts against MaxBytes)
	MaxBytes     int64 // the bound; 0 is unbounded
	Pieces       int   // complete pieces held
	Partial      int   // pieces held in part (recorded blocks)
	PinnedBytes  int64 // sizes of the distinct pinned pieces, held or not
	PinnedPieces int   // distinct pinned pieces
	Pins         int   // pin owners
	Evictions    int64 // pieces (complete or partial) evicted since Open
	EvictedBytes int64 // their bytes
}

// Stats returns a snapshot of the store, taken from memory under one lock,
// so that its numbers agree with each other.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	x := s.index
	return Stats{
		Bytes:    x.used,
		MaxBytes: s.opts.MaxBytes,
		Pieces:   len(x.pieces),
		Partial:  len(x.partials),

		PinnedBytes:  x.pins.bytes,
		PinnedPieces: len(x.pins.counts),
		Pins:         len(x.pins.owners),
		Evictions:    x.evictions,
		EvictedBytes: x.evicted,
	}
}

// Cached returns, from memory and without I/O, how many bytes of [off,
// off+n) of piece p the store holds verified: the bytes of the range that
// fall inside p (n for a range inside it) if p is complete with p's size,
// those of its recorded blocks that fall in the range if it is partial
// with p's size and block table (what ReadAt would serve: see
// [Store.Present]), and 0 if p is absent, held with another size, or after
// Close.
func (s *Store) Cached(p meta.Piece, off, n int64) int64 {
	start, end := max(off, 0), min(off+n, p.Size)
	if start >= end {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	if e, ok := s.index.get(p.Digest); ok {
		if e.size != p.Size {
			return 0
		}
		return end - start
	}
	e, ok := s.index.getPartial(p.Digest)
	if !ok || e.size != p.Size || e.have.table != p.Blocks {
		return 0
	}
	return recordedIn(e.have, start, end)
}

// recordedIn returns how many bytes of [start, end), a non-empty range
// inside the piece, the recorded blocks of h hold.
func recordedIn(h *presence, start, end int64) int64 {
	var n int64
	first, last := meta.BlocksOf(start, end-start, blockSize)
	for i := first; i <= last; i++ {
		if h.has(i) {
			off, size := meta.BlockSpan(h.size, blockSize, i)
			n += min(off+size, end) - max(off, start)
		}
	}
	return n
}
