package store

import (
	"encoding/binary"
	"math/bits"

	"github.com/piecefs/piecefs/meta"
)

// presence says which blocks of a partial piece are on disk and what their
// checksums are. The store's presences are values: one is never changed once
// an index entry holds it (a commit or a drop installs a new one), so a
// reader may use one after unlocking. A Part builds its own with set.
type presence struct {
	size  int64       // of the piece
	table meta.Digest // of the block table its blocks were verified against; zero for none
	bits  []byte      // block i is present iff bit i%8 (least significant first) of bits[i/8] is set
	sums  []uint32    // the CRC-32C of each block, in order; 0 for an absent block
	count int         // present blocks
	bytes int64       // bytes of the present blocks
}

func newPresence(p meta.Piece) *presence {
	n := numBlocks(p.Size)
	return &presence{size: p.Size, table: p.Blocks, bits: make([]byte, (n+7)/8), sums: make([]uint32, n)}
}

func (h *presence) has(i int) bool { return h.bits[i/8]&(1<<(i%8)) != 0 }

// full reports whether every block is present.
func (h *presence) full() bool { return h.count == len(h.sums) }

// set marks block i present with checksum sum.
func (h *presence) set(i int, sum uint32) {
	if !h.has(i) {
		h.bits[i/8] |= 1 << (i % 8)
		h.count++
		h.bytes += blockLen(h.size, i)
	}
	h.sums[i] = sum
}

// covers reports whether every block that [off, off+n), clamped to the
// piece, touches is present. An empty range needs no block.
func (h *presence) covers(off, n int64) bool {
	end := min(off+n, h.size)
	if off < 0 || off >= end {
		return off >= 0
	}
	first, last := meta.BlocksOf(off, end-off, blockSize)
	for i := first; i <= last; i++ {
		if !h.has(i) {
			return false
		}
	}
	return true
}

// with returns a copy of h with the blocks of q added, at q's checksums.
func (h *presence) with(q *presence) *presence {
	u := h.clone()
	for i := range q.sums {
		if q.has(i) && !u.has(i) {
			u.set(i, q.sums[i])
		}
	}
	return u
}

// without returns a copy of h with block i absent.
func (h *presence) without(i int) *presence {
	u := h.clone()
	if u.has(i) {
		u.bits[i/8] &^= 1 << (i % 8)
		u.sums[i] = 0
		u.count--
		u.bytes -= blockLen(h.size, i)
	}
	return u
}

func (h *presence) clone() *presence {
	u := *h
	u.bits = append([]byte(nil), h.bits...)
	u.sums = append([]uint32(nil), h.sums...)
	return &u
}

// blockLen returns the length of block i of a piece of size bytes.
func blockLen(size int64, i int) int64 {
	_, n := meta.BlockSpan(size, blockSize, i)
	return n
}

// encodePartial returns the value bucket partial holds for h: the piece's
// size, 8 bytes big-endian; the digest of the block table the blocks were
// verified against, 32 bytes, zero for none; the bitmap of present blocks,
// (n+7)/8 bytes for n blocks, block i present iff bit i%8 (least
// significant first) of byte i/8 is set; then the CRC-32C of every block,
// 4 bytes big-endian each, 0 for an absent block.
func encodePartial(h *presence) []byte {
	v := make([]byte, 0, partialHeader+len(h.bits)+4*len(h.sums))
	v = append(v, encodeSize(h.size)...)
	v = append(v, h.table[:]...)
	v = append(v, h.bits...)
	return append(v, encodeSums(h.sums, meta.Digest{})...) // the table is in the header
}

// decodePartial returns the presence a value of bucket partial records, or
// false if the value is malformed: of the wrong length for its size, with a
// bit set past the last block, a checksum for an absent block, or no block
// present or every block (a piece with every block is recorded complete,
// never partial).
func decodePartial(v []byte) (*presence, bool) {
	if len(v) < partialHeader {
		return nil, false
	}
	size, ok := decodeSize(v[:8])
	if !ok || size == 0 {
		return nil, false
	}
	n := int64(numBlocks(size))
	nbits := (n + 7) / 8
	if int64(len(v)) != partialHeader+nbits+4*n {
		return nil, false
	}
	h := newPresence(meta.Piece{Size: size, Blocks: meta.Digest(v[8:partialHeader])})
	bitmap, sums := v[partialHeader:partialHeader+nbits], v[partialHeader+nbits:]
	for i := range h.sums {
		sum := binary.BigEndian.Uint32(sums[4*i:])
		if bitmap[i/8]&(1<<(i%8)) != 0 {
			h.set(i, sum)
		} else if sum != 0 {
			return nil, false
		}
	}
	if onesIn(bitmap) != h.count || h.count == 0 || h.full() {
		return nil, false // bits past the last block, or nothing partial about it
	}
	return h, true
}

// partialHeader is the length of a partial record before its bitmap: the
// size (8 bytes) and the block table's digest (32).
const partialHeader = 8 + 32

func onesIn(b []byte) int {
	n := 0
	for _, c := range b {
		n += bits.OnesCount8(c)
	}
	return n
}
