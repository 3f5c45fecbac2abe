package piece

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// DefaultReplayJobs is how many fetches Replay has in flight at most by
// default.
const DefaultReplayJobs = 2

// Limiter paces Replay's fetches by their bytes; *rate.Limiter of
// golang.org/x/time/rate satisfies it. WaitN is never asked for more than
// Burst.
type Limiter interface {
	WaitN(ctx context.Context, n int) error
	Burst() int
}

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// Jobs bounds the fetches in flight; 0 means DefaultReplayJobs.
	Jobs int
	// Limit, if set, paces the fetches: each waits for its bytes before it
	// starts.
	Limit Limiter
	// Memory is how many bytes of what is fetched may also go into the
	// memory tier, first fetched first; the rest goes to disk only.
	Memory int64
}

// ReplayResult says what Replay did.
type ReplayResult struct {
	Fetches      int   // requests made
	FetchedBytes int64 // their bytes
	HeldBytes    int64 // bytes of the slices that a tier held already
	Failed       int   // fetches that failed (the read that needs them fetches again)
	Elapsed      time.Duration
	Err          error // ctx's error if it ended first, else nil
}

// Replay brings the bytes of slices, in order, into the tiers ahead of the
// reads that will want them (see "Replay"): what memory or disk holds
// already costs nothing; the rest is fetched through the network tier, which
// verifies it and hands it to the disk tier, a run of adjacent units (or a
// whole piece, for a version 1 manifest) per request. It returns when every
// slice is settled or ctx ends.
func (r *Reader) Replay(ctx context.Context, slices []meta.Slice, o ReplayOptions) ReplayResult {
	start := time.Now()
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = DefaultReplayJobs
	}
	rp := &replay{r: r, o: o, slots: make(chan struct{}, jobs), seen: map[Key]bool{}, memLeft: o.Memory}
	for _, s := range slices {
		if ctx.Err() != nil {
			break
		}
		rp.slice(ctx, s)
	}
	rp.wg.Wait()
	rp.res.Elapsed = time.Since(start)
	rp.res.Err = ctx.Err()
	return rp.res
}

// replay is one run of Replay.
type replay struct {
	r     *Reader
	o     ReplayOptions
	slots chan struct{}  // one per fetch in flight
	seen  map[Key]bool   // units (or whole pieces) dispatched or found held
	wg    sync.WaitGroup // one per fetch in flight

	mu      sync.Mutex // guards res, memLeft
	res     ReplayResult
	memLeft int64
}

// slice dispatches the fetches of s's units that no tier holds, in order.
func (rp *replay) slice(ctx context.Context, s meta.Slice) {
	r := rp.r
	p := s.Piece
	if s.Offset < 0 || s.Length <= 0 || s.Offset > p.Size-s.Length {
		return // AppendSlices never makes one; a hostile list cannot reach here
	}
	if !r.m.HasBlocks() {
		rp.whole(ctx, p)
		return
	}
	first, last := meta.BlocksOf(s.Offset, s.Length, r.unit)
	missing := -1
	for k := first; k <= last+1; k++ {
		if k <= last && rp.wanted(p, k) {
			if missing < 0 {
				missing = k
			}
			continue
		}
		if missing >= 0 {
			rp.dispatch(ctx, p, missing, k-1)
			missing = -1
		}
	}
}

// wanted reports whether unit k of p is to be fetched: not dispatched or
// held already. It marks it seen either way.
func (rp *replay) wanted(p meta.Piece, k int) bool {
	key := Key{p.Digest, k}
	if rp.seen[key] {
		return false
	}
	rp.seen[key] = true
	if rp.r.unitHeld(p, k) {
		_, n := rp.r.unitBytes(p, k)
		rp.count(0, n, false)
		return false
	}
	return true
}

// whole fetches piece p of a version 1 manifest unless a tier holds it.
func (rp *replay) whole(ctx context.Context, p meta.Piece) {
	r := rp.r
	key := Key{p.Digest, Whole}
	if rp.seen[key] {
		return
	}
	rp.seen[key] = true
	held := func() bool {
		if r.mem != nil {
			if _, ok := r.mem.Get(key); ok {
				return true
			}
		}
		return r.disk.Has(p.Digest)
	}
	if held() {
		rp.count(0, p.Size, false)
		return
	}
	rp.start(ctx, p.Size, held, func() error {
		b, err := r.net.Piece(ctx, p)
		if err == nil && int64(len(b)) != p.Size {
			err = fmt.Errorf("replay piece %s: the network tier returned %d bytes, the manifest says %d: %w", p.Digest, len(b), p.Size, ErrPieceSize)
		}
		if err == nil && rp.keep(p.Size) {
			r.mem.Add(key, b)
		}
		return err
	})
}

// dispatch fetches units first..last of p with one ranged request.
func (rp *replay) dispatch(ctx context.Context, p meta.Piece, first, last int) {
	r := rp.r
	off, _ := r.unitBytes(p, first)
	lastOff, lastLen := r.unitBytes(p, last)
	n := lastOff + lastLen - off
	held := func() bool {
		for k := first; k <= last; k++ {
			if !r.unitHeld(p, k) {
				return false
			}
		}
		return true
	}
	rp.start(ctx, n, held, func() error {
		b, err := r.net.Range(ctx, p, r.m.BlockSize, off, n)
		if err == nil && int64(len(b)) != n {
			err = fmt.Errorf("replay piece %s: the network tier returned %d bytes of [%d, +%d): %w", p.Digest, len(b), off, n, ErrPieceSize)
		}
		if err == nil && rp.keep(n) {
			for k := first; k <= last; k++ {
				uoff, ulen := r.unitBytes(p, k)
				r.mem.Add(Key{p.Digest, k}, b[uoff-off:uoff-off+ulen:uoff-off+ulen])
			}
		}
		return err
	})
}

// start waits for the limiter to let n bytes through and for a free slot,
// in the caller's goroutine so that requests start in the list's order,
// then runs fetch on a goroutine of its own, unless the bytes are held by
// then: a read that wanted them while the replay waited has fetched them.
func (rp *replay) start(ctx context.Context, n int64, held func() bool, fetch func() error) {
	if l := rp.o.Limit; l != nil {
		for left := n; left > 0; {
			step := min(left, int64(max(l.Burst(), 1)))
			if l.WaitN(ctx, int(step)) != nil {
				return
			}
			left -= step
		}
	}
	select {
	case rp.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	if held() {
		<-rp.slots
		rp.count(0, n, false)
		return
	}
	rp.wg.Add(1)
	go func() {
		defer rp.wg.Done()
		defer func() { <-rp.slots }()
		err := fetch()
		if err != nil {
			rp.r.log.WithError(err).Debug("replay fetch failed")
		}
		rp.count(n, 0, err != nil)
	}()
}

// keep reports whether n more bytes may go into the memory tier.
func (rp *replay) keep(n int64) bool {
	if rp.r.mem == nil {
		return false
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.memLeft < n {
		return false
	}
	rp.memLeft -= n
	return true
}

func (rp *replay) count(fetched, held int64, failed bool) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	switch {
	case failed:
		rp.res.Failed++
	case fetched > 0:
		rp.res.Fetches++
		rp.res.FetchedBytes += fetched
	}
	rp.res.HeldBytes += held
}
