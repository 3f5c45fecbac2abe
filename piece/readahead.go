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

// stream is one reader moving forward through the manifest's positions:
// units of pieces (see Reader.pos), numbered in manifest order.
type stream struct {
	hits   int    // reads that moved the stream on to a later position
	last   int    // the last position read
	issued int    // highest position prefetched so far
	window int    // positions to keep fetched ahead of last; grows while sequential
	used   uint64 // tick of the last read, 0 for a free slot
}

// readahead detects sequential reading and fetches the next pieces before
// they are asked for.
//
// It follows positions in the manifest's pieces, not file offsets: publish
// numbers pieces in the order a directory walk reads them, so one mechanism
// serves a large file read front to back and a tar of many small files
// packed together. A position is a unit of a piece (a whole piece for a
// version 1 manifest); perPiece positions belong to each piece, and a
// prefetch never spans two pieces. A random read continues no stream, so it
// prefetches nothing.
type readahead struct {
	maxWindow    int                                     // positions
	lagPositions int                                     // see lag
	perPiece     int                                     // positions per piece
	fetch        func(ctx context.Context, from, to int) // brings positions from..to (one piece's) into the faster tiers
	slots        chan struct{}                           // one per prefetch in flight

	ctx    context.Context // ends at stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per prefetch goroutine

	mu       sync.Mutex // guards streams, tick, inflight
	streams  [maxStreams]stream
	tick     uint64
	inflight map[int]bool // first positions of the prefetches in flight
}

// newReadahead returns a readahead over positions of perPiece per piece,
// which keeps up to maxWindow of them fetched ahead of a stream and lets
// reads arrive up to lag positions out of order (at least 2).
func newReadahead(maxWindow, perPiece, lag int, fetch func(ctx context.Context, from, to int)) *readahead {
	ctx, cancel := context.WithCancel(context.Background())
	return &readahead{
		maxWindow: maxWindow, perPiece: max(perPiece, 1), lagPositions: max(lag, 2), fetch: fetch, slots: make(chan struct{}, maxPrefetching),
		ctx: ctx, cancel: cancel, inflight: make(map[int]bool),
	}
}

// observe is told that a read touched positions first..last and starts the
// prefetches that reading pattern calls for. end is the number of
// positions; fromStart says the read began at the start of its file, which
// is how sequential reading usually begins. It
// reports whether reading looks sequential: a stream that has moved on
// twice, so that random reads, which now and then land next to each other,
// do not pass for it.
func (ra *readahead) observe(first, last, end int, fromStart bool) (sequential bool) {
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
	chunk := min(max(st.window/4, 1), ra.perPiece)
	for i := max(st.issued+1, st.last+1); i <= min(st.last+st.window, end-1); {
		to := min(i+chunk-1, (i/ra.perPiece+1)*ra.perPiece-1, end-1)
		if !ra.inflight[i] && !ra.startLocked(i, to) {
			break // no slot free: the next read tries again from here
		}
		st.issued, i = to, to+1
	}
	return true
}

// streamLocked returns the stream that a read starting at piece first
// continues (and true), or a fresh one (window 0) in place of the least
// recently used.
func (ra *readahead) streamLocked(first int) (*stream, bool) {
	ra.tick++
	oldest := &ra.streams[0]
	for i := range ra.streams {
		st := &ra.streams[i]
		if st.used != 0 && first >= st.last-ra.lag() && first <= st.last+1 {
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

// lagBytes is how far behind a stream's front a read may start and still
// continue it: the kernel sends a file's readahead as several requests at
// once, and they arrive out of order, by a few of its requests at most.
const lagBytes = 4 << 20

func (ra *readahead) lag() int { return ra.lagPositions }

// startLocked starts prefetching positions i..to if a slot is free.
func (ra *readahead) startLocked(i, to int) bool {
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
		ra.fetch(ra.ctx, i, to)
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
