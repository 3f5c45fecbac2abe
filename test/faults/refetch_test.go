package faults

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/piece"
	"github.com/piecefs/piecefs/store"
)

// lateDisk is the disk tier as one unlucky reader sees it: its first Has
// for the watched piece answers as of the moment it is asked, but returns
// only when the test says so. Everything else is the store itself.
type lateDisk struct {
	*store.Store
	watch  meta.Digest
	taken  atomic.Bool
	asked  chan struct{} // closed when the first Has for watch is asked
	resume chan struct{} // closed by the test to let that Has return
}

// Has implements piece.Disk.
func (d *lateDisk) Has(dg meta.Digest) bool {
	had := d.Store.Has(dg)
	if dg == d.watch && d.taken.CompareAndSwap(false, true) {
		close(d.asked)
		<-d.resume
	}
	return had
}

// TestNoRefetchAfterPersist pins down the interleaving behind the double
// requests TestConcurrentReads can see: reader B finds a piece in neither
// memory nor on disk; before B asks the network, reader A fetches the piece
// and the fetcher finishes writing it to the store. B must then get the
// piece without a second request to the origin, as the fetch package's
// "Deduplication" promises and DEVELOPERS.md's "one fetch per piece" asks.
func TestNoRefetchAfterPersist(t *testing.T) {
	for _, memory := range []int64{8 << 20, 0} {
		t.Run(fmt.Sprintf("memory tier %d bytes", memory), func(t *testing.T) {
			testNoRefetchAfterPersist(t, memory)
		})
	}
}

func testNoRefetchAfterPersist(t *testing.T, memory int64) {
	tr := publish(t)
	o := newFaultyOrigin(t, tr)
	e := tr.entry(t, smallFile)
	p := tr.m.Pieces[e.Extents[0].Piece]
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fetch.New(o.URL(), fetch.Options{Sink: fetch.Adapt(st), Timeout: stallTimeout})
	if err != nil {
		t.Fatal(err)
	}
	disk := &lateDisk{Store: st, watch: p.Digest, asked: make(chan struct{}), resume: make(chan struct{})}
	c := &chain{st: st, f: f, r: piece.New(tr.m, piece.Options{Memory: memoryTier(memory), Disk: disk, Network: f})}
	t.Cleanup(c.close)
	resume := sync.OnceFunc(func() { close(disk.resume) })
	t.Cleanup(resume) // a failing test must not leave reader B blocked

	b := startRead(t.Context(), c.r, e, 0, int(e.Size)) // B: misses memory, held in Has
	awaitClosed(t, disk.asked, "reader B at the disk tier")
	readWhole(t, c.r, tr, smallFile) // A: fetches the piece
	awaitStored(t, st, p.Digest)
	// The fetcher's background write drops its in-memory copy right after
	// the store has the piece; this pause lets it. It can only make the
	// test miss the double request, never invent one.
	time.Sleep(20 * time.Millisecond)
	resume()
	select {
	case res := <-b:
		if res.err != nil {
			t.Fatalf("reader B: %v", res.err)
		}
		checkRead(t, res, tr.files[smallFile])
	case <-time.After(stallTimeout):
		t.Fatal("reader B still running: hung")
	}
	if got := o.hitsOf(p.Digest); got != 1 {
		t.Errorf("requests for the piece: got %d, want 1", got)
	}
}

// awaitStored waits until the store records piece d complete.
func awaitStored(t *testing.T, st *store.Store, d meta.Digest) {
	t.Helper()
	deadline := time.Now().Add(stallTimeout)
	for !st.Has(d) {
		if time.Now().After(deadline) {
			t.Fatalf("piece %s not stored after %v", d, stallTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}
