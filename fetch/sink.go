package fetch

import "github.com/piecefs/piecefs/meta"

// Sink persists verified bytes and hands back what it holds. It is declared
// here so that fetch does not import the store; [Adapt] turns a store into
// one.
//
// Load is asked before a whole piece is requested, so that a piece a reader
// missed just as another flight stored it is not fetched twice; it returns
// the whole piece p, verified, or an error if the Sink does not hold it at
// p's size.
//
// Create opens a [Writer] for piece p. The fetcher writes to it only bytes
// it has verified (a whole piece against its digest, or a block against its
// hash), while they arrive, and commits once the request is done; bytes of
// a request that fails are aborted.
type Sink interface {
	Load(p meta.Piece) ([]byte, error)
	Create(p meta.Piece) (Writer, error)
}

// Writer receives verified bytes of one piece at their offsets; Commit
// makes them durable, Abort discards what was not committed. Offsets are
// multiples of [meta.DefaultBlockSize], and lengths too but at the piece's
// end. A Writer is used by one goroutine.
type Writer interface {
	WriteAt(b []byte, off int64) (int, error)
	Commit() error
	Abort() error
}

// PartStore is a store whose writers are of a concrete type W, as
// *store.Store's *store.Part are: Go's interfaces do not accept a method
// that returns *store.Part where one returning Writer is asked for.
type PartStore[W Writer] interface {
	Load(p meta.Piece) ([]byte, error)
	CreatePart(p meta.Piece) (W, error)
}

// WholeSink is a Sink that also takes a whole piece, verified against its
// digest, in one call and records it complete at once: *store.Store's Put,
// through Adapt, which writes a .part file, fsyncs it, renames it into
// place and records it, rather than writing blocks into a partial file,
// recording them, and then hashing the file again to complete it. The
// fetcher uses it for the whole pieces it fetched (Piece: a preheat, a
// version 1 manifest's reads): half the syncs and one hash instead of two.
type WholeSink interface {
	Sink
	PutWhole(p meta.Piece, data []byte) error
}

// Adapt returns s as a Sink, a WholeSink when s also has Put(digest, data).
func Adapt[W Writer](s PartStore[W]) Sink {
	if ps, ok := s.(putter); ok {
		return adaptedWhole[W]{adapted[W]{s}, ps}
	}
	return adapted[W]{s}
}

// putter stores a whole piece its caller verified against the digest.
type putter interface {
	Put(d meta.Digest, data []byte) error
}

type adaptedWhole[W Writer] struct {
	adapted[W]
	put putter
}

func (a adaptedWhole[W]) PutWhole(p meta.Piece, data []byte) error {
	return a.put.Put(p.Digest, data)
}

type adapted[W Writer] struct{ s PartStore[W] }

func (a adapted[W]) Load(p meta.Piece) ([]byte, error) { return a.s.Load(p) }

func (a adapted[W]) Create(p meta.Piece) (Writer, error) {
	w, err := a.s.CreatePart(p)
	if err != nil {
		return nil, err // not w: a nil *Part in a Writer is not a nil Writer
	}
	return w, nil
}
