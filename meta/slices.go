package meta

import "sort"

// Slice is the part of one piece that a read of a file needs.
type Slice struct {
	Piece  Piece
	Index  int   // of Piece in Manifest.Pieces: pieces are numbered in publish order, which readahead follows
	Offset int64 // within the piece
	Length int64
}

// AppendSlices appends to dst the piece ranges that hold the file's bytes
// [off, off+n), clamped at the end of the file, and returns the result.
// Reading past the end yields nothing, as a read at EOF does. The manifest
// must have passed Validate.
func (m *Manifest) AppendSlices(dst []Slice, e *Entry, off, n int64) []Slice {
	if off < 0 || n <= 0 || off >= e.Size {
		return dst
	}
	if n > e.Size-off {
		n = e.Size - off
	}
	// The first extent that ends after off.
	i := sort.Search(len(e.starts), func(i int) bool {
		return e.starts[i]+e.Extents[i].Length > off
	})
	for ; n > 0 && i < len(e.Extents); i++ {
		x := e.Extents[i]
		skip := off - e.starts[i]
		take := min(x.Length-skip, n)
		dst = append(dst, Slice{Piece: m.Pieces[x.Piece], Index: x.Piece, Offset: x.Offset + skip, Length: take})
		off += take
		n -= take
	}
	return dst
}
