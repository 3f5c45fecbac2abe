package piece

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// DefaultPreheatJobs is how many pieces Preheat fetches at once by default.
const DefaultPreheatJobs = 4

// PreheatOptions configure Preheat.
type PreheatOptions struct {
	// Jobs is how many pieces are fetched at once; 0 means
	// DefaultPreheatJobs.
	Jobs int
	// Memory is how many bytes of the pieces fetched may also go into the
	// memory tier, in the order given, so that the first read of them is a
	// memory hit; beyond it they go to disk only, rather than evicting
	// from memory the pieces preheated first. 0 puts none in memory.
	Memory int64
	// Progress, when set, is called once per piece as it is settled:
	// fetched, held already, or failed (err set). Calls may be concurrent.
	Progress func(p meta.Piece, fetched bool, err error)
}

// PreheatResult says what Preheat did.
type PreheatResult struct {
	Held, Fetched           int   // pieces held already, pieces fetched
	HeldBytes, FetchedBytes int64 // their bytes
	// Failed holds the pieces that could not be fetched and why; empty
	// when every piece is held now. Pieces not attempted because ctx
	// ended are in it too, with ctx's error.
	Failed map[meta.Digest]error

	fetched []meta.Piece
}

// Preheat makes every piece of pieces complete on the disk tier: a piece
// held complete already costs no request; the others are fetched whole, in
// parallel, through the network tier, which verifies them and hands them
// to the disk tier, and the first o.Memory bytes of them go into the memory
// tier too. It returns when every piece is settled or ctx ends; what was
// fetched before stays. Pieces are deduplicated by digest.
func (r *Reader) Preheat(ctx context.Context, pieces []meta.Piece, o PreheatOptions) PreheatResult {
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = DefaultPreheatJobs
	}
	var (
		mu  sync.Mutex
		res = PreheatResult{Failed: map[meta.Digest]error{}}
		// memLeft is what the memory tier may still take; claimed in the
		// order pieces are fetched, which follows the order given.
		memLeft atomic.Int64
	)
	if r.mem != nil {
		memLeft.Store(o.Memory)
	}
	settle := func(p meta.Piece, fetched bool, err error) {
		mu.Lock()
		switch {
		case err != nil:
			res.Failed[p.Digest] = err
		case fetched:
			res.Fetched++
			res.FetchedBytes += p.Size
			res.fetched = append(res.fetched, p)
		default:
			res.Held++
			res.HeldBytes += p.Size
		}
		mu.Unlock()
		if o.Progress != nil {
			o.Progress(p, fetched, err)
		}
	}
	work := make(chan meta.Piece)
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if err := ctx.Err(); err != nil {
					settle(p, false, err)
					continue
				}
				b, err := r.net.Piece(ctx, p)
				if err == nil && int64(len(b)) != p.Size {
					err = fmt.Errorf("the network tier returned %d bytes, the manifest says %d: %w", len(b), p.Size, ErrPieceSize)
				}
				if err != nil {
					settle(p, false, fmt.Errorf("preheat piece %s: %w", p.Digest, err))
					continue
				}
				if r.mem != nil && memLeft.Add(-p.Size) >= 0 {
					r.mem.Add(Key{p.Digest, Whole}, b)
				}
				settle(p, true, nil)
			}
		}()
	}
	seen := make(map[meta.Digest]bool, len(pieces))
	for _, p := range pieces {
		if seen[p.Digest] {
			continue
		}
		seen[p.Digest] = true
		if r.disk.Has(p.Digest) {
			settle(p, false, nil)
			continue
		}
		select {
		case work <- p:
		case <-ctx.Done():
			settle(p, false, fmt.Errorf("preheat piece %s: %w", p.Digest, ctx.Err()))
		}
	}
	close(work)
	wg.Wait()
	r.checkHeld(ctx, &res)
	return res
}

// flushTimeout bounds how long Preheat waits for the disk tier to take
// what it fetched.
const flushTimeout = time.Minute

// flusher is the part of the network tier that waits for its writes to the
// disk tier; *fetch.Fetcher has it.
type flusher interface {
	Flush(ctx context.Context) error
}

// checkHeld waits for the network tier's writes to the disk tier and moves
// a fetched piece the disk tier does not hold (a full disk, say: the network
// tier logs why) from fetched to failed, so that a preheat never claims
// what a later read, with the origin gone, would not find.
func (r *Reader) checkHeld(ctx context.Context, res *PreheatResult) {
	if res.Fetched == 0 {
		return
	}
	if f, ok := r.net.(flusher); ok {
		// Even when ctx has ended (Ctrl-C): what was fetched is to stay,
		// and the writes are local, so they are waited for, boundedly.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := f.Flush(fctx); err != nil {
			return
		}
	}
	for _, p := range res.fetched {
		if !r.disk.Has(p.Digest) {
			res.Fetched--
			res.FetchedBytes -= p.Size
			res.Failed[p.Digest] = fmt.Errorf("preheat piece %s: fetched and verified, but the disk cache did not keep it (see the mount's log)", p.Digest)
		}
	}
}

// ErrPreheat is wrapped by the error of PreheatResult.Err.
var ErrPreheat = errors.New("some pieces could not be preheated")

// Err is nil when every piece was settled, else an error wrapping
// ErrPreheat that counts the failures and gives one of them.
func (res PreheatResult) Err() error {
	for d, err := range res.Failed {
		return fmt.Errorf("%w: %d of them, e.g. %s: %w", ErrPreheat, len(res.Failed), d, err)
	}
	return nil
}
