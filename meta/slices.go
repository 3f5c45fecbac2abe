package meta

import "sort"

// Slice is the part of one piece that a read of a file needs.
type Slice struct {
	Piece  Piece
	Index  int   // of Piece in Manifest.Pieces: pieces are numbered in publish order, which readahead follows
	Offset int64 // within the piece
	Length int64
}

// manyExtents is the number of extents above which Validate records where
// each extent starts in the file, so that a read finds its first extent by
// binary search; below it a scan is as fast and costs no memory. Most files
// have one extent.
const manyExtents = 16

// AppendSlices appends to dst the piece ranges that hold the file's bytes
// [off, off+n), clamped at the end of the file, and returns the result.
// Reading past the end yields nothing, as a read at EOF does. The manifest
// must have passed Validate; e is one of its entries.
func (m *Manifest) AppendSlices(dst []Slice, e *Entry, off, n int64) []Slice {
	if off < 0 || n <= 0 || off >= e.Size {
		return dst
	}
	if n > e.Size-off {
		n = e.Size - off
	}
	i, start := m.firstExtent(e, off)
	for ; n > 0 && i < len(e.Extents); i++ {
		x := e.Extents[i]
		skip := off - start
		take := min(x.Length-skip, n)
		dst = append(dst, Slice{Piece: m.Pieces[x.Piece], Index: x.Piece, Offset: x.Offset + skip, Length: take})
		off += take
		n -= take
		start += x.Length
	}
	return dst
}

// firstExtent returns the index of e's first extent that ends after off,
// and the file offset where that extent starts.
func (m *Manifest) firstExtent(e *Entry, off int64) (int, int64) {
	if starts, ok := m.starts[e]; ok && len(starts) == len(e.Extents) {
		i := sort.Search(len(starts), func(i int) bool {
			return starts[i]+e.Extents[i].Length > off
		})
		if i == len(starts) {
			return i, 0
		}
		return i, starts[i]
	}
	var start int64
	for i, x := range e.Extents {
		if start+x.Length > off {
			return i, start
		}
		start += x.Length
	}
	return len(e.Extents), start
}
