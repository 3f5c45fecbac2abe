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

// Adapt returns s as a Sink.
func Adapt[W Writer](s PartStore[W]) Sink { return adapted[W]{s} }

type adapted[W Writer] struct{ s PartStore[W] }

func (a adapted[W]) Load(p meta.Piece) ([]byte, error) { return a.s.Load(p) }

func (a adapted[W]) Create(p meta.Piece) (Writer, error) {
	w, err := a.s.CreatePart(p)
	if err != nil {
		return nil, err // not w: a nil *Part in a Writer is not a nil Writer
	}
	return w, nil
}
