package piece

import (
	"context"
	"sync"
)

// maxStreams is how many sequential readers readahead follows at once; a
// read that continues none of them starts a new one in place of the least
// recently used.
const maxStreams = 16

// maxPrefetching bounds the pieces being prefetched at once, and with them
// the memory that fetches in flight hold.
const maxPrefetching = 4

// stream is one reader moving forward through the manifest's pieces.
type stream struct {
	hits   int    // reads that moved the stream on to a later piece
	last   int    // index of the last piece read
	issued int    // highest piece index prefetched so far
	window int    // pieces to keep fetched ahead of last; grows while sequential
	used   uint64 // tick of the last read, 0 for a free slot
}

// readahead detects sequential reading and fetches the next pieces before
// they are asked for.
//
// It follows piece indices, not file offsets: publish numbers pieces in the
// order a directory walk reads them, so one mechanism serves a large file
// read front to back and a tar of many small files packed together. A
// random read continues no stream, so it prefetches nothing.
type readahead struct {
	maxWindow int                        // pieces
	fetch     func(context.Context, int) // brings piece i into the faster tiers
	slots     chan struct{}              // one per prefetch in flight

	ctx    context.Context // ends at stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per prefetch goroutine

	mu       sync.Mutex // guards streams, tick, inflight
	streams  [maxStreams]stream
	tick     uint64
	inflight map[int]bool // piece indices being prefetched
}

func newReadahead(maxWindow int, fetch func(context.Context, int)) *readahead {
	ctx, cancel := context.WithCancel(context.Background())
	return &readahead{
		maxWindow: maxWindow, fetch: fetch, slots: make(chan struct{}, maxPrefetching),
		ctx: ctx, cancel: cancel, inflight: make(map[int]bool),
	}
}

// observe is told that a read touched pieces first..last (indices) and
// starts the prefetches that reading pattern calls for. npieces is the
// number of pieces in the manifest; fromStart says the read began at the
// start of its file, which is how sequential reading usually begins. It
// reports whether reading looks sequential: a stream that has moved on
// twice, so that random reads, which now and then land next to each other,
// do not pass for it.
func (ra *readahead) observe(first, last, npieces int, fromStart bool) (sequential bool) {
	if ra == nil || ra.maxWindow <= 0 {
		return false
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	st, continued := ra.streamLocked(first)
	if !continued && fromStart {
		st.hits = 1
	}
	advanced := last > st.last
	if advanced {
		st.hits++
	}
	st.last = max(st.last, last)
	if st.hits < 2 {
		return false
	}
	if advanced || st.window == 0 {
		st.window = min(max(2*st.window, 2), ra.maxWindow)
	}
	for i := max(st.issued+1, st.last+1); i <= min(st.last+st.window, npieces-1); i++ {
		if !ra.inflight[i] && !ra.startLocked(i) {
			break // no slot free: the next read tries again from here
		}
		st.issued = i
	}
	return true
}

// lag is how far behind a stream's front a read may start and still
// continue it: the kernel sends a file's readahead as several requests at
// once, and they arrive out of order.
const lag = 2

// streamLocked returns the stream that a read starting at piece first
// continues (and true), or a fresh one (window 0) in place of the least
// recently used.
func (ra *readahead) streamLocked(first int) (*stream, bool) {
	ra.tick++
	oldest := &ra.streams[0]
	for i := range ra.streams {
		st := &ra.streams[i]
		if st.used != 0 && first >= st.last-lag && first <= st.last+1 {
			st.used = ra.tick
			return st, true
		}
		if st.used < oldest.used {
			oldest = st
		}
	}
	*oldest = stream{last: first, issued: first, used: ra.tick}
	return oldest, false
}

// startLocked starts prefetching piece i if a slot is free.
func (ra *readahead) startLocked(i int) bool {
	select {
	case ra.slots <- struct{}{}:
	default:
		return false
	}
	if ra.ctx.Err() != nil {
		<-ra.slots
		return false
	}
	ra.inflight[i] = true
	ra.wg.Add(1)
	go func() {
		defer ra.wg.Done()
		ra.fetch(ra.ctx, i)
		ra.mu.Lock()
		delete(ra.inflight, i)
		ra.mu.Unlock()
		<-ra.slots
	}()
	return true
}

// stop cancels the prefetches in flight and waits for them.
func (ra *readahead) stop() {
	if ra == nil {
		return
	}
	ra.mu.Lock()
	ra.cancel()
	ra.mu.Unlock()
	ra.wg.Wait()
}

// prefetch brings piece i into the fastest tier that can keep it: from disk
// into memory, or from the network (which also stores it on disk). Errors
// are left for the read that needs the piece to meet and report.
func (r *Reader) prefetch(ctx context.Context, i int) {
	p := r.m.Pieces[i]
	if r.mem != nil {
		if _, ok := r.mem.Get(p.Digest); ok {
			return
		}
	}
	if r.disk.Has(p.Digest) {
		if r.mem != nil {
			if b, err := r.disk.Load(p); err == nil && int64(len(b)) == p.Size {
				r.mem.Add(p.Digest, b)
			}
		}
		return
	}
	b, err := r.net.Piece(ctx, p)
	if err != nil {
		r.log.WithError(err).WithField("piece", p.Digest).Debug("prefetch failed")
		return
	}
	if r.mem != nil && int64(len(b)) == p.Size {
		r.mem.Add(p.Digest, b)
	}
}
