package main

import (
	pfs "github.com/piecefs/piecefs/fs"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/store"
)

// entryInfo answers the mount's user.piecefs.cached and user.piecefs.pinned
// attributes (fs.CacheInfo) from what the disk tier holds in memory.
// Memory-tier pieces are not counted: the disk tier is where a read's
// pieces end up, and what a preheat or a pin is about.
type entryInfo struct {
	m    *meta.Manifest
	disk interface {
		// Cached returns how many bytes of [off, off+n) of piece p are held.
		Cached(p meta.Piece, off, n int64) int64
		// Pinned reports whether piece d is kept out of eviction.
		Pinned(d meta.Digest) bool
	}
}

var _ pfs.CacheInfo = entryInfo{disk: (*store.Store)(nil)}

// Cached returns how many bytes of the file e the disk tier holds: those of
// its slices, so a piece it shares with other files counts for its own
// range only.
func (i entryInfo) Cached(e *meta.Entry) int64 {
	var n int64
	for _, s := range i.m.AppendSlices(nil, e, 0, e.Size) {
		n += i.disk.Cached(s.Piece, s.Offset, s.Length)
	}
	return n
}

// Pinned reports whether every piece of the file e is pinned; an empty file
// has none and is not.
func (i entryInfo) Pinned(e *meta.Entry) bool {
	slices := i.m.AppendSlices(nil, e, 0, e.Size)
	for _, s := range slices {
		if !i.disk.Pinned(s.Piece.Digest) {
			return false
		}
	}
	return len(slices) > 0
}
