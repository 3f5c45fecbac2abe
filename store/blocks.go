package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/piecefs/piecefs/meta"
)

// blockSize is the unit in which piece files are read and checked (see
// "Verification"). Bucket blocks holds one checksum per block of this
// size, so a store that changes it must record its checksums under
// another bucket name.
const blockSize = meta.DefaultBlockSize

// castagnoli is the CRC-32C table; hash/crc32 computes it with the CPU's
// CRC32 instruction where there is one.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// numBlocks returns how many blocks a piece of size bytes has; the last one
// may be short.
func numBlocks(size int64) int { return meta.NumBlocks(size, blockSize) }

// summer computes the checksums of a piece's blocks from its bytes, given
// in chunks of any size. The zero value is ready for use.
type summer struct {
	sums []uint32
	crc  uint32 // of the fill bytes of the current block
	fill int
}

// Write adds p to the bytes summed. It never fails.
func (h *summer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), blockSize-h.fill)
		h.crc = crc32.Update(h.crc, castagnoli, p[:k])
		h.fill += k
		p = p[k:]
		if h.fill == blockSize {
			h.sums = append(h.sums, h.crc)
			h.crc, h.fill = 0, 0
		}
	}
	return n, nil
}

// Sums returns the checksums of the blocks written, the last one possibly
// short; never nil.
func (h *summer) Sums() []uint32 {
	sums := append([]uint32{}, h.sums...)
	if h.fill > 0 {
		sums = append(sums, h.crc)
	}
	return sums
}

// sumBlocks returns the checksums of the blocks of the whole piece b.
func sumBlocks(b []byte) []uint32 {
	var h summer
	_, _ = h.Write(b) // a summer never fails
	return h.Sums()
}

// checkBlocks checks b, which holds whole blocks of a piece starting with
// block first, against the piece's checksums sums. The error is a
// *blockError.
func checkBlocks(b []byte, first int64, sums []uint32) error {
	for i := first; len(b) > 0; i++ {
		k := min(len(b), blockSize)
		if got := crc32.Checksum(b[:k], castagnoli); got != sums[i] {
			return &blockError{block: int(i), got: got, want: sums[i]}
		}
		b = b[k:]
	}
	return nil
}

// blockError says which block of a piece failed its check. It wraps
// ErrCorrupt.
type blockError struct {
	block     int
	got, want uint32
}

func (e *blockError) Error() string {
	return fmt.Sprintf("%v (block %d has checksum %08x, recorded %08x)", ErrCorrupt, e.block, e.got, e.want)
}

func (e *blockError) Unwrap() error { return ErrCorrupt }

// encodeSums returns the value bucket blocks holds for sums: 4 bytes
// big-endian per block, followed by the block table's digest for a piece
// trusted on its table (table not zero; see "Verification").
func encodeSums(sums []uint32, table meta.Digest) []byte {
	v := make([]byte, 0, 4*len(sums)+len(table))
	for _, c := range sums {
		v = binary.BigEndian.AppendUint32(v, c)
	}
	if table != (meta.Digest{}) {
		v = append(v, table[:]...)
	}
	return v
}

// decodeSums returns the checksums and the block table (zero for none) a
// value of bucket blocks holds for a piece of size bytes, or false if the
// value has neither length or names a zero table.
func decodeSums(v []byte, size int64) ([]uint32, meta.Digest, bool) {
	var table meta.Digest
	if !sumsValueOK(v, size) {
		return nil, table, false
	}
	n := numBlocks(size)
	if len(v) > 4*n {
		table = meta.Digest(v[4*n:])
	}
	sums := make([]uint32, n)
	for i := range sums {
		sums[i] = binary.BigEndian.Uint32(v[4*i:])
	}
	return sums, table, true
}

// sumsValueOK reports whether v is a well-formed value of bucket blocks
// for a piece of size bytes: its checksums, and a block table that is not
// zero if there is one. A version that knew no tables finds a value with
// one of the wrong length, and prunes it: it then hashes the piece whole
// before serving it, as it must, not having checked the table.
func sumsValueOK(v []byte, size int64) bool {
	n := 4 * numBlocks(size)
	switch len(v) {
	case n:
		return true
	case n + len(meta.Digest{}):
		return meta.Digest(v[n:]) != meta.Digest{}
	}
	return false
}

// blockPool holds buffers of one block, for reads of part of a block: the
// block is read and checked whole, and the part copied out.
var blockPool = sync.Pool{New: func() any { return new([blockSize]byte) }}
