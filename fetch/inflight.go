package fetch

import (
	"sync"

	"github.com/piecefs/piecefs/meta"
)

// rangeFlight is one Range request for a run of blocks, shared by every
// caller that needs any of them. It stays findable from the moment it is
// claimed until its bytes are committed to the Sink, so that a reader who
// comes back for them during the write is served from memory rather than by
// a second request.
type rangeFlight struct {
	span Span
	done chan struct{} // closed once data or err is set
	data []byte        // the span's verified bytes
	err  error
}

func (fl *rangeFlight) covers(k int) bool { return fl.span.First <= k && k <= fl.span.Last }

// rangeKey names the blocks of one piece at one block size: flights of a
// digest at another size or cut otherwise never serve each other.
type rangeKey struct {
	d         meta.Digest
	size      int64
	blockSize int64
}

// ranges is the registry of flights by piece.
type ranges struct {
	mu      sync.Mutex // guards flights
	flights map[rangeKey][]*rangeFlight
}

func newRanges() *ranges { return &ranges{flights: make(map[rangeKey][]*rangeFlight)} }

func keyOf(s Span) rangeKey {
	return rangeKey{d: s.Piece.Digest, size: s.Piece.Size, blockSize: s.BlockSize}
}

// claim returns the flights that cover span s, in block order, and the new
// ones among them, which the caller must start: one per run of adjacent
// blocks that no flight covers. A flight that has failed covers nothing.
func (r *ranges) claim(s Span) (parts, started []*rangeFlight) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := keyOf(s)
	for k := s.First; k <= s.Last; {
		if fl := r.coverLocked(key, k); fl != nil {
			parts = append(parts, fl)
			k = fl.span.Last + 1
			continue
		}
		last := k
		for last < s.Last && r.coverLocked(key, last+1) == nil {
			last++
		}
		fl := &rangeFlight{span: Span{Piece: s.Piece, BlockSize: s.BlockSize, First: k, Last: last}, done: make(chan struct{})}
		r.flights[key] = append(r.flights[key], fl)
		parts, started = append(parts, fl), append(started, fl)
		k = last + 1
	}
	return parts, started
}

func (r *ranges) coverLocked(key rangeKey, k int) *rangeFlight {
	for _, fl := range r.flights[key] {
		if fl.covers(k) && !failed(fl) {
			return fl
		}
	}
	return nil
}

// failed reports whether fl is done and failed.
func failed(fl *rangeFlight) bool {
	select {
	case <-fl.done:
		return fl.err != nil
	default:
		return false
	}
}

// finish sets fl's outcome and wakes its waiters.
func (r *ranges) finish(fl *rangeFlight, data []byte, err error) {
	fl.data, fl.err = data, err
	close(fl.done)
}

// remove forgets fl.
func (r *ranges) remove(fl *rangeFlight) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := keyOf(fl.span)
	fls := r.flights[key]
	for i, g := range fls {
		if g == fl {
			fls = append(fls[:i], fls[i+1:]...)
			break
		}
	}
	if len(fls) == 0 {
		delete(r.flights, key)
	} else {
		r.flights[key] = fls
	}
}
