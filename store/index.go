package store

import (
	"cmp"
	"slices"

	"github.com/piecefs/piecefs/meta"
)

// piece is what the store knows in memory about one complete piece. Its
// fields are guarded by Store.mu. It takes 104 bytes, and about 150 with
// its map entry: a million pieces (terabytes of cache) cost about 150 MB,
// plus the checksums of the pieces read (see "Verification").
type piece struct {
	d     meta.Digest
	size  int64
	atime int64 // unix seconds of the last read or commit
	pins  int   // reads and checks in progress; a pinned piece is never evicted
	// sums are the checksums of the blocks, nil until this process
	// commits or first reads the piece (see "Verification"). A slice
	// once set is never written to, so a reader may use it after
	// unlocking.
	sums  []uint32
	dirty bool // atime not yet written to bucket atime

	prev, next *piece // the LRU list of index; nil while not in an index
}

// index holds the complete pieces in least-recently-used order and their
// total size. It does no I/O and no locking: Store.mu guards it.
//
// Every piece that becomes dirty is moved to the head, and taking the dirty
// pieces clears them all, so the dirty pieces are always a prefix of the
// list: a flush walks only them, not the whole index.
type index struct {
	pieces   map[meta.Digest]*piece
	lru      piece // sentinel: lru.next is the most recently used, lru.prev the least
	used     int64 // bytes of the pieces in the index
	reserved int64 // bytes of commits that made room but are not recorded yet
}

func newIndex() *index {
	x := &index{pieces: make(map[meta.Digest]*piece)}
	x.lru.next, x.lru.prev = &x.lru, &x.lru
	return x
}

// loadIndex returns an index of the pieces in sizes, ordered by their
// atimes (pieces without one count as least recently used).
func loadIndex(sizes, atimes map[meta.Digest]int64) *index {
	ps := make([]*piece, 0, len(sizes))
	for d, size := range sizes {
		ps = append(ps, &piece{d: d, size: size, atime: atimes[d]})
	}
	slices.SortFunc(ps, func(a, b *piece) int { return cmp.Compare(a.atime, b.atime) })
	x := newIndex()
	for _, p := range ps {
		x.add(p) // oldest first, so that the newest ends at the head
	}
	return x
}

func (x *index) get(d meta.Digest) (*piece, bool) {
	p, ok := x.pieces[d]
	return p, ok
}

// add puts p at the head of the list, as the most recently used piece.
func (x *index) add(p *piece) {
	x.pieces[p.d] = p
	x.used += p.size
	x.linkAfter(p, &x.lru)
}

// addOldest puts p at the tail of the list, as the next piece to evict.
func (x *index) addOldest(p *piece) {
	x.pieces[p.d] = p
	x.used += p.size
	x.linkAfter(p, x.lru.prev)
}

func (x *index) remove(p *piece) {
	delete(x.pieces, p.d)
	x.used -= p.size
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

// shrink removes unpinned pieces, least recently used first, until the
// pieces and reservations fit in target bytes or only pinned pieces are
// left, and returns what it removed.
func (x *index) shrink(target int64) []*piece {
	var victims []*piece
	for p := x.lru.prev; p != &x.lru && x.used+x.reserved > target; {
		older := p.prev
		if p.pins == 0 {
			x.remove(p)
			victims = append(victims, p)
		}
		p = older
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

// commit turns the reservation for p into the complete piece p.
func (x *index) commit(p *piece) {
	x.reserved -= p.size
	x.add(p)
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

// digests returns the digests of the pieces, most recently used first.
func (x *index) digests() []meta.Digest {
	ds := make([]meta.Digest, 0, len(x.pieces))
	for p := x.lru.next; p != &x.lru; p = p.next {
		ds = append(ds, p.d)
	}
	return ds
}
