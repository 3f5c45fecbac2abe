package fetch

import (
	"errors"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/piecefs/piecefs/meta"
)

// maxPersisting bounds the verified pieces being written to the Sink at
// once, and the block spans being committed, in the background or not, and
// so the .part files and the uncommitted blocks in the cache.
// Beyond it a flight waits for a slot and persists before it returns, so a
// disk slower than the network slows reads down instead of growing memory.
const maxPersisting = 4

// persisting holds the verified pieces handed to the Sink but not yet
// durable. Callers are served from it, so a reader that comes back for a
// piece during its fsync neither waits for the disk nor fetches it again.
type persisting struct {
	slots chan struct{} // one token per background write
	mu    sync.Mutex    // guards data
	data  map[meta.Digest][]byte
}

func newPersisting() *persisting {
	return &persisting{slots: make(chan struct{}, maxPersisting), data: make(map[meta.Digest][]byte)}
}

func (p *persisting) get(d meta.Digest, size int64) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.data[d]
	return b, ok && int64(len(b)) == size
}

// persist hands verified bytes to the Sink. With a slot free it writes in
// the background (Close waits for it) and returns at once; with none, it
// waits for a slot and writes before returning, so that a disk slower than
// the network slows reads down instead of growing memory. Once Close has
// begun it writes nothing: the Sink is about to close too, so the piece is
// discarded and fetched again when next read. Reads are served from the
// bytes meanwhile, and durability is the Sink's own ordering, so returning
// before the write is done weakens nothing.
func (f *Fetcher) persist(p meta.Piece, data []byte) {
	if f.opts.Sink == nil {
		return
	}
	select {
	case f.pending.slots <- struct{}{}:
	default:
		f.pending.slots <- struct{}{} // background writes free slots without waiting on anything
		if !f.closing() {
			f.put(p, data)
		}
		<-f.pending.slots
		return
	}
	if f.begin() != nil {
		<-f.pending.slots
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
		<-f.pending.slots
	}()
}

// put writes one piece to the Sink. A failure (a full disk, say) is logged
// and otherwise ignored: the bytes are good, and the read that asked for
// them should not fail because they could not also be cached.
func (f *Fetcher) put(p meta.Piece, data []byte) {
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
