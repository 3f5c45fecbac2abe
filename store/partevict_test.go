package store

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// allocBytes returns the bytes the files under pieces/ take on disk:
// partial files are sparse, and take only their written blocks.
func allocBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for _, f := range files(t, dir, piecesDir) {
		st, err := os.Stat(filepath.Join(dir, f))
		must(t, err)
		n += st.Sys().(*syscall.Stat_t).Blocks * 512
	}
	return n
}

// checkPartialBound fails the test if the store counts more than limit
// bytes, or its files take more (within a file system block per file).
func checkPartialBound(t *testing.T, s *Store, limit int64, after string) {
	t.Helper()
	if got := s.Bytes(); got > limit {
		t.Fatalf("after %s: Bytes = %d, want <= %d", after, got, limit)
	}
	slack := int64(4096 * len(files(t, s.Dir(), piecesDir)))
	if got := allocBytes(t, s.Dir()); got > limit+slack {
		t.Fatalf("after %s: files under pieces/ take %d bytes, want <= %d", after, got, limit)
	}
}

// partialBoundSetup fills a store bounded to 4 blocks with the partial
// piece a (blocks 0 and 1), then the complete piece c of two blocks, a
// clock second apart.
func partialBoundSetup(t *testing.T, dir string, hook func(string) error) (s *Store, a []byte, ap meta.Piece, c []byte) {
	t.Helper()
	clock := newFakeClock()
	s = openT(t, dir, Options{MaxBytes: 4 * bs, clock: clock.Now, faultHook: hook})
	a, ap = partData(60, 4)
	commitBlocksT(t, s, ap, a, 0, 1)
	clock.advance()
	c = content(61, 2*bs)
	putT(t, s, c)
	clock.advance()
	return s, a, ap, c
}

// TestPartialBound checks that recorded blocks of partial pieces count
// against the disk bound, and that partial pieces are evicted least
// recently used first, unless a Part or a read holds them.
func TestPartialBound(t *testing.T) {
	dir := t.TempDir()
	s, a, ap, c := partialBoundSetup(t, dir, nil)
	if got := s.Bytes(); got != 4*bs {
		t.Fatalf("Bytes = %d, want %d", got, 4*bs)
	}
	// A commit of one more block evicts the least recently used piece,
	// the partial a: record and file.
	d, dp := partData(62, 3)
	commitBlocksT(t, s, dp, d, 0)
	checkServed(t, s, ap, a)
	checkNoPartial(t, s, ap.Digest)
	checkComplete(t, s, meta.Sum(c), c)
	checkPartialBound(t, s, 4*bs, "evicting a partial piece")

	// A partial piece with a Part open is not evicted, though least
	// recently used: the complete c goes first, then e, newer than d.
	w := createPartT(t, s, dp)
	writeBlocksT(t, w, d, 1)
	e := content(63, 2*bs)
	putT(t, s, e)
	if s.Has(meta.Sum(c)) {
		t.Error("complete piece kept, the partial one being written evicted?")
	}
	putT(t, s, content(64, 2*bs))
	if s.Has(meta.Sum(e)) {
		t.Error("the piece newer than the pinned partial one was kept")
	}
	checkServed(t, s, dp, d, 0)
	must(t, w.Commit())
	checkServed(t, s, dp, d, 0, 1)
	checkPartialBound(t, s, 4*bs+bs, "committing a pinned partial piece") // one piece over at most
	checkConsistent(t, s)

	// The bound holds across a restart, and a lower one evicts partial
	// pieces at Open.
	before := s.Bytes()
	must(t, s.Close())
	s = openT(t, dir, Options{MaxBytes: 4 * bs})
	if got := s.Bytes(); got != before {
		t.Errorf("Bytes after reopening = %d, want %d", got, before)
	}
	must(t, s.Close())
	s = openT(t, dir, Options{MaxBytes: bs})
	checkServed(t, s, dp, d)
	checkPartialBound(t, s, bs, "reopening with a lower bound")
	checkConsistent(t, s)
}

// TestPartialReadPinsAndOrders reads a partial piece: the read makes it
// the most recently used, and a read in progress pins it.
func TestPartialReadPinsAndOrders(t *testing.T) {
	s, a, ap, c := partialBoundSetup(t, t.TempDir(), nil)
	checkServed(t, s, ap, a, 0, 1) // a is now more recent than c
	putT(t, s, content(65, bs))
	if s.Has(meta.Sum(c)) {
		t.Error("the least recently used piece was kept")
	}
	checkServed(t, s, ap, a, 0, 1)

	reading, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.opts.readHook = func(d meta.Digest) {
		if d == ap.Digest {
			once.Do(func() {
				close(reading)
				<-release
			})
		}
	}
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock)
	got := make([]byte, bs)
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadAt(ap, got, bs)
		done <- err
	}()
	<-reading
	for i := range 4 {
		putT(t, s, content(66+i, 2*bs))
		if !s.Present(ap, 0, 2*bs) {
			t.Fatalf("partial piece being read was evicted by put %d", i)
		}
	}
	unblock()
	if err := <-done; err != nil || !bytes.Equal(got, a[bs:2*bs]) {
		t.Fatalf("pinned ReadAt = %v, or other bytes", err)
	}
	checkConsistent(t, s)
}

// TestCrashDuringPartialEviction copies the cache directory before each
// step of the eviction of a partial piece: the copy opens consistent,
// within the bound, with the victim's blocks served only if its record was
// not deleted yet.
func TestCrashDuringPartialEviction(t *testing.T) {
	for _, step := range []string{stepEvict, stepUnlink} {
		t.Run("before "+step, func(t *testing.T) {
			dir, crashed := t.TempDir(), t.TempDir()
			armed, taken := false, false
			s, a, ap, _ := partialBoundSetup(t, dir, func(s string) error {
				if armed && s == step && !taken {
					copyTree(t, dir, crashed)
					taken = true
				}
				return nil
			})
			armed = true
			d, dp := partData(70, 2)
			commitBlocksT(t, s, dp, d, 0)
			if !taken {
				t.Fatalf("step %q never ran", step)
			}
			cs := openT(t, crashed, Options{MaxBytes: 4 * bs})
			checkConsistent(t, cs)
			checkPartialBound(t, cs, 4*bs, "opening the crashed copy")
			if step == stepEvict {
				checkServed(t, cs, ap, a, 0, 1)
			} else {
				checkServed(t, cs, ap, a)
			}
			checkServed(t, cs, dp, d) // not recorded before the eviction ended
		})
	}
}
