package fetch

import (
	"context"
	"fmt"
	"strconv"

	"github.com/piecefs/piecefs/meta"
)

// Piece returns the bytes of piece p, fetched from the origin and verified
// against p.Digest, after handing them to the Sink if there is one.
//
// Concurrent calls for the same piece share one download, which runs on the
// fetcher's lifetime bounded by Options.Timeout; if ctx ends first, Piece
// returns ctx's error at once and the download goes on for the others. The
// returned slice is shared with those callers and must not be modified.
func (f *Fetcher) Piece(ctx context.Context, p meta.Piece) ([]byte, error) {
	if p.Size < 0 || p.Size > meta.MaxPieceSize {
		return nil, fmt.Errorf("fetch piece %s: size %d is outside [0, %d]", p.Digest, p.Size, meta.MaxPieceSize)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fetch piece %s: %w", p.Digest, err)
	}
	// The size is part of the key so that a caller can never be handed bytes
	// of a size other than the one it asked for, even by a manifest that
	// names one digest with two sizes.
	if b, ok := f.pending.get(p.Digest, p.Size); ok {
		return b, nil
	}
	key := p.Digest.Hex() + "/" + strconv.FormatInt(p.Size, 10)
	ch := f.flights.DoChan(key, func() (any, error) { return f.flight(p) })
	if f.onJoin != nil {
		f.onJoin()
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, fmt.Errorf("fetch piece %s: %w", p.Digest, r.Err)
		}
		return r.Val.([]byte), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("fetch piece %s: %w", p.Digest, ctx.Err())
	}
}

// flight is the one download of p shared by every caller waiting for it.
// It deliberately ignores the callers' contexts: see Piece. Persisting is
// tracked like a fetch, so Close waits for it and the Sink can be closed
// once Close returns.
func (f *Fetcher) flight(p meta.Piece) ([]byte, error) {
	// A caller can miss the piece in its caches and in pending just as the
	// flight that fetched it ends: the bytes are then still pending, or
	// already in the Sink, and a request would only fetch them again.
	if b, ok := f.pending.get(p.Digest, p.Size); ok {
		return b, nil
	}
	if b, ok := f.stored(p); ok {
		return b, nil
	}
	return run(f.life, f, kindPiece, p.Digest.String(), func(ctx context.Context, src *source) ([]byte, error) {
		data, err := f.getPiece(ctx, src, p)
		if err == nil {
			f.persist(p, data)
		}
		return data, err
	})
}

func (f *Fetcher) getPiece(ctx context.Context, src *source, p meta.Piece) ([]byte, error) {
	return f.getExact(ctx, src, meta.PiecePath(p.Digest), p.Size, p.Digest)
}

// stored returns piece p from the Sink if the Sink has it.
func (f *Fetcher) stored(p meta.Piece) ([]byte, bool) {
	if f.opts.Sink == nil {
		return nil, false
	}
	b, err := f.opts.Sink.Load(p)
	if err != nil || int64(len(b)) != p.Size {
		return nil, false
	}
	return b, true
}
