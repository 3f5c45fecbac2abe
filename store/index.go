package store

import (
	"cmp"
	"slices"

	"github.com/piecefs/piecefs/meta"
)

// piece is what the store knows in memory about one complete or partial
// piece. Its fields are guarded by Store.mu. It takes 112 bytes, and about
// 160 with its map entry: a million pieces (terabytes of cache) cost about
// 160 MB, plus the checksums of the pieces read (see "Verification") and
// the presences of the partial ones.
type piece struct {
	d     meta.Digest
	size  int64
	atime int64 // unix seconds of the last read or commit
	pins  int   // reads, checks and open Parts; a pinned piece is never evicted
	// sums are the checksums of the blocks of a complete piece, nil until
	// this process commits or first reads it (see "Verification"). A
	// slice once set is never written to, so a reader may use it after
	// unlocking.
	sums []uint32
	// table is, for a complete piece made from blocks verified against a
	// block table and not hashed whole, that table's digest (see
	// "Verification"): the piece is served as it is only to readers that
	// trust the same table. Zero for a piece hashed whole against its
	// digest. Known with sums, and set and cleared with them.
	table meta.Digest
	// have is, for a partial piece, its recorded blocks and their
	// checksums (never nil); it is replaced, never changed.
	have    *presence
	writers int32 // open Parts of a partial piece
	dirty   bool  // atime not yet written to bucket atime
	// completed says a partial piece left the index because its digest
	// was recorded complete (whatever became of that piece since).
	completed bool
	// part says the piece is partial: its file is <hex>.blocks. It is set
	// when the piece is made and never changes (a partial piece that
	// becomes complete is replaced by a new piece), so it may be read
	// without the lock.
	part bool

	prev, next *piece // the LRU list of index; nil while not in an index
}

// held returns the bytes p takes under the disk bound: its size if it is
// complete, the bytes of its recorded blocks if it is partial.
func (p *piece) held() int64 {
	if p.part {
		return p.have.bytes
	}
	return p.size
}

// index holds the complete and partial pieces in one least-recently-used
// order, and the bytes they take. It does no I/O and no locking: Store.mu
// guards it. A digest has at most one piece in it, complete or partial.
//
// Every piece that becomes dirty is moved to the head, and taking the dirty
// pieces clears them all, so the dirty pieces are always a prefix of the
// list: a flush walks only them, not the whole index.
type index struct {
	pieces   map[meta.Digest]*piece // complete
	partials map[meta.Digest]*piece // partial
	lru      piece                  // sentinel: lru.next is the most recently used, lru.prev the least
	used     int64                  // bytes the pieces in the index hold (see piece.held)
	reserved int64                  // bytes of commits that made room but are not recorded yet
	pins     *pinSet                // owners' pins: a pinned digest's piece is never evicted
	// evictions and evicted count the pieces evicted since Open, and
	// their bytes (see Store.evict).
	evictions, evicted int64
}

func newIndex() *index {
	x := &index{pieces: make(map[meta.Digest]*piece), partials: make(map[meta.Digest]*piece), pins: newPinSet()}
	x.lru.next, x.lru.prev = &x.lru, &x.lru
	return x
}

// loadIndex returns an index of the complete pieces in sizes and the
// partial pieces in partials, ordered by their atimes (pieces without one
// count as least recently used).
func loadIndex(sizes map[meta.Digest]int64, partials map[meta.Digest]*presence, atimes map[meta.Digest]int64) *index {
	ps := make([]*piece, 0, len(sizes)+len(partials))
	for d, size := range sizes {
		ps = append(ps, &piece{d: d, size: size, atime: atimes[d]})
	}
	for d, have := range partials {
		ps = append(ps, &piece{d: d, size: have.size, atime: atimes[d], have: have, part: true})
	}
	slices.SortFunc(ps, func(a, b *piece) int { return cmp.Compare(a.atime, b.atime) })
	x := newIndex()
	for _, p := range ps {
		x.add(p) // oldest first, so that the newest ends at the head
	}
	return x
}

// get returns the complete piece d.
func (x *index) get(d meta.Digest) (*piece, bool) {
	p, ok := x.pieces[d]
	return p, ok
}

// getPartial returns the partial piece d.
func (x *index) getPartial(d meta.Digest) (*piece, bool) {
	p, ok := x.partials[d]
	return p, ok
}

// known reports whether d has a piece in the index, complete or partial.
func (x *index) known(d meta.Digest) bool {
	return x.pieces[d] != nil || x.partials[d] != nil
}

// current reports whether p is the index's piece of its digest.
func (x *index) current(p *piece) bool {
	if p.part {
		return x.partials[p.d] == p
	}
	return x.pieces[p.d] == p
}

func (x *index) mapOf(p *piece) map[meta.Digest]*piece {
	if p.part {
		return x.partials
	}
	return x.pieces
}

// add puts p at the head of the list, as the most recently used piece.
func (x *index) add(p *piece) {
	x.mapOf(p)[p.d] = p
	x.used += p.held()
	x.linkAfter(p, &x.lru)
}

// addOldest puts p at the tail of the list, as the next piece to evict.
func (x *index) addOldest(p *piece) {
	x.mapOf(p)[p.d] = p
	x.used += p.held()
	x.linkAfter(p, x.lru.prev)
}

func (x *index) remove(p *piece) {
	delete(x.mapOf(p), p.d)
	x.used -= p.held()
	x.unlink(p)
}

// touch records a use of p at unix time now.
func (x *index) touch(p *piece, now int64) {
	p.atime, p.dirty = now, true
	x.unlink(p)
	x.linkAfter(p, &x.lru)
}

func (x *index) linkAfter(p, at *piece) {
	p.prev, p.next = at, at.next
	at.next.prev = p
	at.next = p
}

func (x *index) unlink(p *piece) {
	p.prev.next = p.next
	p.next.prev = p.prev
	p.prev, p.next = nil, nil
}

// shrink removes pieces, least recently used first, until the pieces and
// reservations fit in target bytes or only pieces in use (p.pins) or
// pinned by an owner (x.pins) are left, and returns what it removed.
//
// The pinned pieces it passes move to the head of the list, so that the
// shrinks to come do not walk them again: a large pin would otherwise sit
// at the tail, walked by every commit under the bound. Their access times
// stay as they were (Open orders them back by those); they are marked
// dirty, as every piece at the head must be (see takeDirty), which costs a
// rewrite of the same times at the next flush.
func (x *index) shrink(target int64) []*piece {
	var victims, kept []*piece
	for p := x.lru.prev; p != &x.lru && x.used+x.reserved > target; {
		older := p.prev
		switch {
		case x.pins.has(p.d):
			kept = append(kept, p)
		case p.pins == 0:
			x.remove(p)
			victims = append(victims, p)
		}
		p = older
	}
	for _, p := range kept { // oldest first, so that the newest ends at the head
		p.dirty = true
		x.unlink(p)
		x.linkAfter(p, &x.lru)
	}
	return victims
}

// reserve makes room for a commit of size bytes under the bound limit
// (0: none) and reserves it. The bound may be exceeded by this one piece,
// when it alone is larger than the room there is, but never by more: if
// pinned pieces keep the index over the bound already, reserve evicts what
// it can and returns false. The victims are returned either way; their
// records and files still have to be deleted.
func (x *index) reserve(size, limit int64) (victims []*piece, ok bool) {
	if limit > 0 {
		victims = x.shrink(limit - size)
		if x.used+x.reserved > limit {
			return victims, false
		}
	}
	x.reserved += size
	return victims, true
}

// unreserve releases a reservation that will not be recorded.
func (x *index) unreserve(size int64) { x.reserved -= size }

// commit turns a reservation of reserved bytes into the complete piece p.
func (x *index) commit(p *piece, reserved int64) {
	x.reserved -= reserved
	x.add(p)
}

// record turns a reservation of reserved bytes into the blocks that have
// holds beyond those of the partial piece p, and records a use of p.
func (x *index) record(p *piece, have *presence, reserved int64, now int64) {
	x.reserved -= reserved
	x.used += have.bytes - p.have.bytes
	p.have = have
	x.touch(p, now)
}

// forgetBlocks sets the recorded blocks of the partial piece p to have,
// fewer than it had.
func (x *index) forgetBlocks(p *piece, have *presence) {
	x.used += have.bytes - p.have.bytes
	p.have = have
}

// stamp is a piece's atime as bucket atime records it.
type stamp struct {
	d     meta.Digest
	atime int64
}

// takeDirty returns the atimes not yet written and marks them written.
func (x *index) takeDirty() []stamp {
	var stamps []stamp
	for p := x.lru.next; p != &x.lru && p.dirty; p = p.next {
		stamps = append(stamps, stamp{p.d, p.atime})
		p.dirty = false
	}
	return stamps
}

// digests returns the digests of the complete pieces, most recently used
// first.
func (x *index) digests() []meta.Digest {
	ds := make([]meta.Digest, 0, len(x.pieces))
	for p := x.lru.next; p != &x.lru; p = p.next {
		if !p.part {
			ds = append(ds, p.d)
		}
	}
	return ds
}
