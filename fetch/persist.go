package fetch

import (
	"context"
	"errors"
	"sync"

	"github.com/sirupsen/logrus"
	"golang.org/x/sync/semaphore"

	"github.com/piecefs/piecefs/meta"
)

// maxPersisting bounds the bytes of the verified pieces being written to
// the Sink at once, and of the block spans being committed, in the
// background or not, and so the .part files and the uncommitted blocks in
// the cache: four pieces of the default size, or 256 spans of one 64 KiB
// block, whose commits the store then flushes together. Beyond it a flight
// waits for room and persists before it returns, so a disk slower than the
// network slows reads down instead of growing memory.
const maxPersisting = 16 << 20

// weight is what persisting n bytes takes of maxPersisting: a piece larger
// than the bound takes all of it.
func weight(n int64) int64 { return min(max(n, 1), maxPersisting) }

// persisting holds the verified pieces handed to the Sink but not yet
// durable. Callers are served from it, so a reader that comes back for a
// piece during its fsync neither waits for the disk nor fetches it again.
type persisting struct {
	room *semaphore.Weighted // maxPersisting bytes
	mu   sync.Mutex          // guards data
	data map[meta.Digest][]byte
}

func newPersisting() *persisting {
	return &persisting{room: semaphore.NewWeighted(maxPersisting), data: make(map[meta.Digest][]byte)}
}

func (p *persisting) get(d meta.Digest, size int64) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.data[d]
	return b, ok && int64(len(b)) == size
}

// persist hands verified bytes to the Sink. With room free it writes in
// the background (Close waits for it) and returns at once; without, it
// waits for room and writes before returning, so that a disk slower than
// the network slows reads down instead of growing memory. Once Close has
// begun it writes nothing: the Sink is about to close too, so the piece is
// discarded and fetched again when next read. Reads are served from the
// bytes meanwhile, and durability is the Sink's own ordering, so returning
// before the write is done weakens nothing.
func (f *Fetcher) persist(p meta.Piece, data []byte) {
	if f.opts.Sink == nil {
		return
	}
	w := weight(p.Size)
	if !f.pending.room.TryAcquire(w) {
		f.pending.acquire(w)
		if !f.closing() {
			f.put(p, data)
		}
		f.pending.room.Release(w)
		return
	}
	if f.begin() != nil {
		f.pending.room.Release(w)
		return
	}
	f.pending.mu.Lock()
	f.pending.data[p.Digest] = data
	f.pending.mu.Unlock()
	go func() {
		defer f.wg.Done()
		f.put(p, data)
		f.pending.mu.Lock()
		delete(f.pending.data, p.Digest)
		f.pending.mu.Unlock()
		f.pending.room.Release(w)
	}()
}

// acquire waits for w bytes of room. The background writes that hold it
// release it without waiting on anything, so this never waits forever.
func (p *persisting) acquire(w int64) {
	_ = p.room.Acquire(context.Background(), w) // fails only when its context ends
}

// put writes one piece to the Sink. A failure (a full disk, say) is logged
// and otherwise ignored: the bytes are good, and the read that asked for
// them should not fail because they could not also be cached.
func (f *Fetcher) put(p meta.Piece, data []byte) {
	if ws, ok := f.opts.Sink.(WholeSink); ok {
		// data hashed to p's digest (getPiece): no block record, no second hash.
		if err := ws.PutWhole(p, data); err != nil {
			f.sinkFailed(p, err)
		}
		return
	}
	w, err := f.opts.Sink.Create(p)
	if err == nil {
		if _, err = w.WriteAt(data, 0); err == nil {
			err = w.Commit()
		} else {
			err = errors.Join(err, w.Abort())
		}
	}
	if err != nil {
		f.sinkFailed(p, err)
	}
}

// sinkFailed logs that verified bytes of p could not be persisted.
func (f *Fetcher) sinkFailed(p meta.Piece, err error) {
	f.log.WithFields(logrus.Fields{"piece": p.Digest.String(), "size": p.Size}).WithError(err).
		Warn("fetch: could not persist verified bytes; they are served from memory only")
}
