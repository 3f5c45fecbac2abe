package meta

import (
	"crypto/sha256"
	"fmt"
	"path"
)

// Bounds on a version 2 manifest's block size, a power of two.
const (
	MinBlockSize = 4 << 10
	MaxBlockSize = 1 << 20
)

// A block table lists the sha256 of each block of a piece, in order, as 32
// raw bytes each: ceil(size/blockSize) hashes, the last block's covering
// only what is left of the piece. It is an immutable object of the origin
// layout, named by its own sha256, which the manifest gives as
// Piece.Blocks. A piece of one block has no table: its digest is its
// block's hash.

// BlocksPath is where the block table with digest d lives:
// "blocks/ab/<hex>", fanned out as pieces are.
func BlocksPath(d Digest) string {
	h := d.Hex()
	return path.Join("blocks", h[:2], h)
}

// NumBlocks returns the number of blocks of a piece of size bytes.
func NumBlocks(size, blockSize int64) int {
	return int((size + blockSize - 1) / blockSize)
}

// BlockSpan returns the offset and length of block k of a piece of size
// bytes.
func BlockSpan(size, blockSize int64, k int) (off, n int64) {
	off = int64(k) * blockSize
	return off, min(blockSize, size-off)
}

// BlocksOf returns the first and last block that the range [off, off+n) of
// a piece touches; n must be positive and the range inside the piece.
func BlocksOf(off, n, blockSize int64) (first, last int) {
	return int(off / blockSize), int((off + n - 1) / blockSize)
}

// BlockTable returns the block table of data cut into blocks of blockSize
// bytes: what a publisher writes for a piece of more than one block.
func BlockTable(data []byte, blockSize int64) []byte {
	n := NumBlocks(int64(len(data)), blockSize)
	table := make([]byte, 0, n*sha256.Size)
	for k := range n {
		off, size := BlockSpan(int64(len(data)), blockSize, k)
		sum := sha256.Sum256(data[off : off+size])
		table = append(table, sum[:]...)
	}
	return table
}

// Blocks is a piece's verified block table: Blocks[k] is the sha256 of
// block k.
type Blocks []Digest

// ParseBlockTable checks that table is the block table the manifest names
// for piece p (its digest is p.Blocks and it holds one hash per block of p)
// and returns it.
func ParseBlockTable(table []byte, p Piece, blockSize int64) (Blocks, error) {
	n := NumBlocks(p.Size, blockSize)
	if len(table) != n*sha256.Size {
		return nil, fmt.Errorf("block table of piece %s: %d bytes, want %d (%d blocks)", p.Digest, len(table), n*sha256.Size, n)
	}
	if got := Sum(table); got != p.Blocks {
		return nil, fmt.Errorf("block table of piece %s: hashes to %s, the manifest says %s", p.Digest, got, p.Blocks)
	}
	bs := make(Blocks, n)
	for k := range bs {
		copy(bs[k][:], table[k*sha256.Size:])
	}
	return bs, nil
}

// HasBlocks reports whether the manifest's pieces can be verified block by
// block: in version 2 every piece can (one of one block by its own digest).
func (m *Manifest) HasBlocks() bool { return m.Version >= VersionBlocks }

// validBlockSize checks the manifest's block size against its version.
func (m *Manifest) validBlockSize() error {
	if m.Version < VersionBlocks {
		if m.BlockSize != 0 {
			return fmt.Errorf("manifest: blockSize %d in a version %d manifest", m.BlockSize, m.Version)
		}
		return nil
	}
	bs := m.BlockSize
	if bs < MinBlockSize || bs > MaxBlockSize || bs&(bs-1) != 0 || bs > m.PieceSize {
		return fmt.Errorf("manifest: blockSize %d: want a power of two in [%d, %d], at most the piece size", bs, MinBlockSize, MaxBlockSize)
	}
	return nil
}

// validBlocks checks that piece p names a block table exactly when it has
// more than one block.
func (m *Manifest) validBlocks(p Piece) error {
	has := p.Blocks != Digest{}
	switch {
	case m.Version < VersionBlocks && has:
		return fmt.Errorf("a block table in a version %d manifest", m.Version)
	case m.Version >= VersionBlocks && p.Size > m.BlockSize && !has:
		return fmt.Errorf("%d bytes, more than one block, and no block table", p.Size)
	case m.Version >= VersionBlocks && p.Size <= m.BlockSize && has:
		return fmt.Errorf("one block and a block table: a piece of one block is its own block hash")
	}
	return nil
}
