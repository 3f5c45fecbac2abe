package piece

import (
	"context"
	"fmt"

	"github.com/piecefs/piecefs/meta"
)

// unitOf returns what a read of m fetches at least: for version 2, whole
// blocks of the manifest that are whole blocks of the disk tier too (both
// are powers of two, so the larger of the two); for version 1, which can be
// verified only piece by piece, the piece.
func unitOf(m *meta.Manifest) int64 {
	if !m.HasBlocks() {
		return max(m.PieceSize, 1)
	}
	return max(m.BlockSize, meta.DefaultBlockSize)
}

// pos returns the readahead position of byte off of piece i.
func (r *Reader) pos(i int, off int64) int {
	return i*r.perPiece + int(off/r.unit)
}

// unitBytes returns the offset and length of unit k of p.
func (r *Reader) unitBytes(p meta.Piece, k int) (off, n int64) {
	return meta.BlockSpan(p.Size, r.unit, k)
}

// readUnits fills dst with s's bytes, a piece of a version 2 manifest that
// the disk tier does not hold whole: unit by unit from memory or from the
// disk's blocks, and each run of units that neither has from the network
// with one ranged fetch, so that a read costs the units it touches and no
// more. The slice is counted by the tiers that served its units.
func (r *Reader) readUnits(ctx context.Context, s meta.Slice, dst []byte) error {
	first, last := meta.BlocksOf(s.Offset, s.Length, r.unit)
	var t tally
	missing := -1 // the first unit of the run not found yet
	for k := first; k <= last; k++ {
		if r.unitLocal(s, dst, k, &t) {
			if missing >= 0 {
				if err := r.fetchUnits(ctx, s, dst, missing, k-1, &t); err != nil {
					return err
				}
				missing = -1
			}
			continue
		}
		if missing < 0 {
			missing = k
		}
	}
	if missing >= 0 {
		if err := r.fetchUnits(ctx, s, dst, missing, last, &t); err != nil {
			return err
		}
	}
	r.count(&t)
	return nil
}

// unitsInMemory serves s from the units in memory, if every unit it
// touches is there, and reports whether it did.
func (r *Reader) unitsInMemory(s meta.Slice, dst []byte) bool {
	p := s.Piece
	first, last := meta.BlocksOf(s.Offset, s.Length, r.unit)
	for k := first; k <= last; k++ {
		uoff, ulen := r.unitBytes(p, k)
		b, ok := r.mem.Get(Key{p.Digest, k})
		if !ok || int64(len(b)) != ulen {
			return false
		}
		lo, part := clip(s, dst, uoff, ulen)
		copy(part, b[lo-uoff:])
	}
	return true
}

// takeUnits takes the readahead marks of the units s touches (see marks)
// and reports whether there were any.
func (r *Reader) takeUnits(s meta.Slice) bool {
	if r.marks == nil {
		return false
	}
	hit := false
	first, last := meta.BlocksOf(s.Offset, s.Length, r.unit)
	for k := first; k <= last; k++ {
		hit = r.marks.take(Key{s.Piece.Digest, k}) || hit
	}
	return hit
}

// clip returns the part of unit [uoff, uoff+ulen) that slice s reads, as
// an offset in the piece and the matching part of dst.
func clip(s meta.Slice, dst []byte, uoff, ulen int64) (int64, []byte) {
	lo, hi := max(uoff, s.Offset), min(uoff+ulen, s.Offset+s.Length)
	return lo, dst[lo-s.Offset : hi-s.Offset]
}

// unitLocal serves s's part of unit k from memory or disk, adds it to t,
// and reports whether it could.
func (r *Reader) unitLocal(s meta.Slice, dst []byte, k int, t *tally) bool {
	p := s.Piece
	uoff, ulen := r.unitBytes(p, k)
	lo, part := clip(s, dst, uoff, ulen)
	if r.mem != nil {
		if b, ok := r.mem.Get(Key{p.Digest, k}); ok && int64(len(b)) == ulen {
			copy(part, b[lo-uoff:])
			t.add(TierMemory, len(part))
			t.prefetch = r.marks.take(Key{p.Digest, k}) || t.prefetch
			return true
		}
	}
	if !r.disk.Present(p, lo, int64(len(part))) {
		return false
	}
	n, err := r.disk.ReadAt(p, part, lo)
	if err != nil || n != len(part) {
		// Dropped by the store if damaged: fetched again.
		r.log.WithError(err).WithField("piece", p.Digest).Debug("disk blocks unusable; fetching them")
		return false
	}
	t.add(TierDisk, len(part))
	return true
}

// fetchUnits fetches units first..last of s's piece with one ranged fetch,
// serves s's part of them into dst, adds it to t and keeps them in memory.
func (r *Reader) fetchUnits(ctx context.Context, s meta.Slice, dst []byte, first, last int, t *tally) error {
	p := s.Piece
	b, off, err := r.fetchRun(ctx, p, first, last)
	if err != nil {
		return err
	}
	lo, part := clip(s, dst, off, int64(len(b)))
	copy(part, b[lo-off:])
	t.add(TierNetwork, len(part))
	return nil
}

// fetchRun fetches units first..last of p, keeps each in memory, and
// returns their bytes and the offset of the first.
func (r *Reader) fetchRun(ctx context.Context, p meta.Piece, first, last int) ([]byte, int64, error) {
	off, _ := r.unitBytes(p, first)
	lastOff, lastLen := r.unitBytes(p, last)
	n := lastOff + lastLen - off
	b, err := r.net.Range(ctx, p, r.m.BlockSize, off, n)
	if err != nil {
		return nil, 0, fmt.Errorf("read piece %s: %w", p.Digest, err)
	}
	if int64(len(b)) != n {
		return nil, 0, fmt.Errorf("read piece %s: the network tier returned %d bytes of [%d, +%d): %w", p.Digest, len(b), off, n, ErrPieceSize)
	}
	if r.mem != nil {
		for k := first; k <= last; k++ {
			uoff, ulen := r.unitBytes(p, k)
			r.mem.Add(Key{p.Digest, k}, b[uoff-off:uoff-off+ulen:uoff-off+ulen])
		}
	}
	return b, off, nil
}

// prefetch brings positions from..to, which lie in one piece, into the
// fastest tier that can keep them: from disk into memory, or from the
// network (which also stores them on disk). Errors are left for the read
// that needs the bytes to meet and report.
func (r *Reader) prefetch(ctx context.Context, from, to int) {
	i := from / r.perPiece
	if i >= len(r.m.Pieces) {
		return
	}
	p := r.m.Pieces[i]
	if r.mem != nil {
		if _, ok := r.mem.Get(Key{p.Digest, Whole}); ok {
			return
		}
		if r.m.HasBlocks() && r.unitsHeldInMemory(p, from%r.perPiece, to%r.perPiece) {
			return
		}
	}
	if r.disk.Has(p.Digest) {
		if r.mem != nil {
			if b, err := r.disk.Load(p); err == nil && int64(len(b)) == p.Size {
				r.mem.Add(Key{p.Digest, Whole}, b)
				r.stats.readaheadFetches.Add(1)
				r.marks.mark(Key{p.Digest, Whole})
			}
		}
		return
	}
	if !r.m.HasBlocks() {
		r.prefetchPiece(ctx, p)
		return
	}
	r.prefetchUnits(ctx, p, from%r.perPiece, min(to%r.perPiece, meta.NumBlocks(p.Size, r.unit)-1))
}

// prefetchPiece fetches the whole piece p of a version 1 manifest.
func (r *Reader) prefetchPiece(ctx context.Context, p meta.Piece) {
	b, err := r.net.Piece(ctx, p)
	if err != nil {
		r.log.WithError(err).WithField("piece", p.Digest).Debug("prefetch failed")
		return
	}
	r.stats.readaheadFetches.Add(1)
	if r.mem != nil && int64(len(b)) == p.Size {
		r.mem.Add(Key{p.Digest, Whole}, b)
		r.marks.mark(Key{p.Digest, Whole})
	}
}

// prefetchUnits fetches the units first..last of p that neither memory nor
// disk holds, a run of them per request.
func (r *Reader) prefetchUnits(ctx context.Context, p meta.Piece, first, last int) {
	missing := -1
	for k := first; k <= last+1; k++ {
		if k <= last && !r.unitHeld(p, k) {
			if missing < 0 {
				missing = k
			}
			continue
		}
		if missing >= 0 {
			if _, _, err := r.fetchRun(ctx, p, missing, k-1); err != nil {
				r.log.WithError(err).WithField("piece", p.Digest).Debug("prefetch failed")
				return
			}
			r.stats.readaheadFetches.Add(1)
			for j := missing; j < k; j++ {
				r.marks.mark(Key{p.Digest, j})
			}
			missing = -1
		}
	}
}

// unitHeld reports whether memory or disk holds unit k of p, without I/O.
func (r *Reader) unitHeld(p meta.Piece, k int) bool {
	uoff, ulen := r.unitBytes(p, k)
	if r.mem != nil {
		if b, ok := r.mem.Get(Key{p.Digest, k}); ok && int64(len(b)) == ulen {
			return true
		}
	}
	return r.disk.Present(p, uoff, ulen)
}

// unitsHeldInMemory reports whether memory holds units first..last of p
// (those the piece has).
func (r *Reader) unitsHeldInMemory(p meta.Piece, first, last int) bool {
	for k := first; k <= min(last, meta.NumBlocks(p.Size, r.unit)-1); k++ {
		if b, ok := r.mem.Get(Key{p.Digest, k}); !ok || len(b) == 0 {
			return false
		}
	}
	return true
}
