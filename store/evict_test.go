package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// fakeClock is a settable clock for access times.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
}

// diskBytes returns the total size of the files under pieces/.
func diskBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for _, f := range files(t, dir, piecesDir) {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

// checkBound fails the test if the store or its directory holds more than
// limit bytes of pieces.
func checkBound(t *testing.T, s *Store, limit int64, after string) {
	t.Helper()
	if got := s.Bytes(); got > limit {
		t.Fatalf("after %s: Bytes = %d, want <= %d", after, got, limit)
	}
	if got := diskBytes(t, s.Dir()); got > limit {
		t.Fatalf("after %s: files under pieces/ hold %d bytes, want <= %d", after, got, limit)
	}
}

// checkConsistent fails the test unless every record of bucket pieces has
// its file and its checksums, every record of bucket partial its partial
// file of the recorded size, every file has its record, and every access
// time and every checksum record its piece's record.
func checkConsistent(t *testing.T, s *Store) {
	t.Helper()
	onDisk := make(map[string]bool)
	for _, f := range files(t, s.Dir(), piecesDir) {
		onDisk[filepath.Base(f)] = true
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		pieces := tx.Bucket([]byte(BucketPieces))
		partial := tx.Bucket([]byte(BucketPartial))
		err := checkPartialRecords(t, s, tx, onDisk)
		if err != nil {
			return err
		}
		err = pieces.ForEach(func(k, _ []byte) error {
			d := meta.Digest(k)
			if !onDisk[d.Hex()] {
				t.Errorf("record of %s without its file", d)
			}
			delete(onDisk, d.Hex())
			if !s.Has(d) {
				t.Errorf("record of %s, but Has is false", d)
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket([]byte(BucketAtime)).ForEach(func(k, _ []byte) error {
			if pieces.Get(k) == nil && partial.Get(k) == nil {
				t.Errorf("access time of %x without its piece record", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return checkSumRecords(t, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range onDisk {
		t.Errorf("file %s without a record", name)
	}
}

// checkSumRecords fails the test unless each record of bucket pieces has
// one of bucket blocks, of 4 bytes per block (and perhaps a block table),
// and each record of bucket blocks one of bucket pieces.
func checkSumRecords(t *testing.T, tx *bolt.Tx) error {
	t.Helper()
	pieces, blocks := tx.Bucket([]byte(BucketPieces)), tx.Bucket([]byte(BucketBlocks))
	if blocks == nil {
		t.Errorf("no bucket %s", BucketBlocks)
		return nil
	}
	err := pieces.ForEach(func(k, v []byte) error {
		size, _ := decodeSize(v)
		if v := blocks.Get(k); v == nil || !sumsValueOK(v, size) {
			t.Errorf("record of %x with %d bytes of checksums (present %v), want %d (and perhaps a table)", k, len(v), v != nil, 4*int((size+bs-1)/bs))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return blocks.ForEach(func(k, _ []byte) error {
		if pieces.Get(k) == nil {
			t.Errorf("checksums of %x without their piece record", k)
		}
		return nil
	})
}

// TestDiskBoundHolds reads a working set three times the bound the way the
// chain does (from disk if there, else fetched and put), keeping a few
// pieces hot: the bound holds after every operation and the hot pieces
// stay.
func TestDiskBoundHolds(t *testing.T) {
	const size, fit = 1000, 10
	const limit = size * fit
	var datas [][]byte
	for i := range 3 * fit {
		datas = append(datas, content(i, size))
	}
	hot := []int{0, 1, 2}
	dir := t.TempDir()
	s := openT(t, dir, Options{MaxBytes: limit})
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 120 {
		i := r.IntN(len(datas))
		if round%2 == 0 {
			i = hot[round/2%len(hot)]
		}
		readThrough(t, s, datas[i])
		checkBound(t, s, limit, fmt.Sprintf("round %d, piece %d", round, i))
	}
	if got := s.Bytes(); got != limit {
		t.Errorf("Bytes after reading %d pieces = %d, want the bound %d", len(datas), got, limit)
	}
	for _, i := range hot {
		if !s.Has(meta.Sum(datas[i])) {
			t.Errorf("hot piece %d was evicted", i)
		}
	}
	checkConsistent(t, s)
	before := s.Bytes()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{MaxBytes: limit})
	if got := s.Bytes(); got != before {
		t.Errorf("Bytes after reopening = %d, want %d", got, before)
	}
}

// readThrough reads data from s if it is there, else puts it, as the chain
// does with a fetched piece.
func readThrough(t *testing.T, s *Store, data []byte) {
	t.Helper()
	d := meta.Sum(data)
	if !s.Has(d) {
		putT(t, s, data)
		return
	}
	if got := readAll(t, s, d, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("ReadAt(%s) returned other bytes than were put", d)
	}
}

// TestPinnedReadNotEvicted blocks a ReadAt while it holds its piece and
// commits enough pieces to evict everything else: the piece being read
// stays, and the read returns its bytes.
func TestPinnedReadNotEvicted(t *testing.T) {
	const size = 1000
	held := content(100, size)
	reading, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	hook := func(d meta.Digest) {
		if d == meta.Sum(held) {
			first.Do(func() {
				close(reading)
				<-release
			})
		}
	}
	s := openT(t, t.TempDir(), Options{MaxBytes: 3 * size, readHook: hook})
	// Before the store's Close, which waits for the read, if the test
	// fails early.
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock)
	d := putT(t, s, held)
	done := make(chan error, 1)
	p := make([]byte, size)
	go func() {
		_, err := s.ReadAt(pieceOf(d, size), p, 0)
		done <- err
	}()
	<-reading
	for i := range 6 {
		putT(t, s, content(i, size))
		checkBound(t, s, 3*size, "a put")
		if !s.Has(d) {
			t.Fatalf("piece being read was evicted by put %d", i)
		}
	}
	unblock()
	if err := <-done; err != nil || !bytes.Equal(p, held) {
		t.Fatalf("pinned ReadAt = %v, or other bytes", err)
	}
	checkConsistent(t, s)
}

// TestFullOfPinnedPieces pins every piece: a commit may go one piece over
// the bound, but not two.
func TestFullOfPinnedPieces(t *testing.T) {
	const size = 1000
	s := openT(t, t.TempDir(), Options{MaxBytes: 2 * size})
	var pins []*piece
	unpinAll := func() {
		for _, p := range pins {
			s.unpin(p)
		}
		pins = nil
	}
	t.Cleanup(unpinAll) // before the store's Close, which waits for pins
	pinT := func(d meta.Digest) {
		p, err := s.pin(d, true)
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, p)
	}
	pinT(putT(t, s, content(1, size)))
	pinT(putT(t, s, content(2, size)))
	pinT(putT(t, s, content(3, size))) // one piece over
	if got, want := s.Bytes(), int64(3*size); got != want {
		t.Errorf("Bytes = %d, want %d", got, want)
	}
	d4 := meta.Sum(content(4, size))
	if err := s.Put(d4, content(4, size)); !errors.Is(err, ErrFull) {
		t.Fatalf("Put with every piece pinned one over the bound = %v, want an error wrapping ErrFull", err)
	}
	if s.Has(d4) {
		t.Error("refused piece is complete")
	}
	unpinAll()
	putT(t, s, content(4, size))
	checkBound(t, s, 2*size, "unpinning and putting")
	checkConsistent(t, s)
}

// TestAccessOrderSurvivesRestart reads an old piece, restarts, and commits:
// the eviction follows the reads of the previous run.
func TestAccessOrderSurvivesRestart(t *testing.T) {
	const size = 100
	clock := newFakeClock()
	opts := Options{MaxBytes: 3 * size, clock: clock.Now}
	dir := t.TempDir()
	s := openT(t, dir, opts)
	var ds []meta.Digest
	for i := range 3 {
		ds = append(ds, putT(t, s, content(i, size)))
		clock.advance()
	}
	readAll(t, s, ds[0], size) // piece 1 is now the least recently used
	clock.advance()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, opts)
	putT(t, s, content(3, size))
	if !s.Has(ds[0]) || s.Has(ds[1]) || !s.Has(ds[2]) {
		t.Errorf("after restart and one eviction Has = %v, %v, %v; want true, false, true", s.Has(ds[0]), s.Has(ds[1]), s.Has(ds[2]))
	}
	checkConsistent(t, s)
}

// TestFlushAtimes checks what a periodic flush writes: the access times of
// pieces read since the last flush, and none for an evicted piece.
func TestFlushAtimes(t *testing.T) {
	const size = 100
	clock := newFakeClock()
	s := openT(t, t.TempDir(), Options{MaxBytes: 2 * size, clock: clock.Now})
	a := putT(t, s, content(1, size))
	b := putT(t, s, content(2, size))
	s.flush()
	clock.advance()
	readAll(t, s, a, size)
	s.flush()
	if got, want := atimeOf(t, s, a), clock.Now().Unix(); got != want {
		t.Errorf("access time of a read piece = %d, want %d", got, want)
	}
	if got, want := atimeOf(t, s, b), clock.Now().Unix()-1; got != want {
		t.Errorf("access time of an unread piece = %d, want %d (its commit)", got, want)
	}
	putT(t, s, content(3, size)) // evicts b
	s.flush()
	if got := atimeOf(t, s, b); got != 0 {
		t.Errorf("evicted piece still has access time %d", got)
	}
	checkConsistent(t, s)
}

func atimeOf(t *testing.T, s *Store, d meta.Digest) int64 {
	t.Helper()
	var at int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(BucketAtime)).Get(d[:]); v != nil {
			at, _ = decodeSize(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestBoundLoweredAtOpen reopens a cache with a smaller bound: Open evicts
// down to it, keeping the most recently used pieces.
func TestBoundLoweredAtOpen(t *testing.T) {
	const size = 100
	clock := newFakeClock()
	dir := t.TempDir()
	s := openT(t, dir, Options{clock: clock.Now})
	var ds []meta.Digest
	for i := range 5 {
		ds = append(ds, putT(t, s, content(i, size)))
		clock.advance()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{MaxBytes: 2 * size, clock: clock.Now})
	checkBound(t, s, 2*size, "reopening")
	for i, d := range ds {
		if got, want := s.Has(d), i >= 3; got != want {
			t.Errorf("Has(piece %d) = %v, want %v", i, got, want)
		}
	}
	checkConsistent(t, s)
}

// TestUnboundedKeepsEverything guards the default: without a bound nothing
// is ever evicted.
func TestUnboundedKeepsEverything(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	var ds []meta.Digest
	for i := range 20 {
		ds = append(ds, putT(t, s, content(i, 1000)))
	}
	for _, d := range ds {
		if !s.Has(d) {
			t.Errorf("piece %s evicted without a bound", d)
		}
	}
	if got, want := s.Bytes(), int64(20*1000); got != want {
		t.Errorf("Bytes = %d, want %d", got, want)
	}
}
