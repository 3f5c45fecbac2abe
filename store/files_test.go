package store

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

func TestOpenFilesBounded(t *testing.T) {
	const pieces, bound = 1000, 16
	dir := t.TempDir()
	var datas [][]byte
	for i := range pieces {
		datas = append(datas, content(i, 64))
	}
	ds := seed(t, dir, datas)
	s, err := Open(dir, Options{OpenFiles: bound})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := countFDs(t)
	for i, d := range ds {
		if got := readAll(t, s, d, 64); !bytes.Equal(got, datas[i]) {
			t.Fatalf("piece %d: read other bytes than were seeded", i)
		}
	}
	if got, want := countFDs(t), before+bound; got > want {
		t.Errorf("open files after reading %d pieces = %d, want <= %d", pieces, got, want)
	}
	if got := s.files.len(); got != bound {
		t.Errorf("cached files = %d, want %d", got, bound)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := countFDs(t), before-1; got > want { // the database's file is closed too
		t.Errorf("open files after Close = %d, want <= %d", got, want)
	}
}

func TestEvictedFileStaysOpenForItsReader(t *testing.T) {
	dir := t.TempDir()
	ds := seed(t, dir, [][]byte{content(1, 10), content(2, 10)})
	s := openT(t, dir, Options{OpenFiles: 1})
	f, release, err := s.files.acquire(record(t, s, ds[0]))
	if err != nil {
		t.Fatal(err)
	}
	// Release before the store's Close, which waits for it, if the test
	// fails early.
	t.Cleanup(release)
	readAll(t, s, ds[1], 10) // evicts ds[0] from the cache of one
	if _, err := f.ReadAt(make([]byte, 10), 0); err != nil {
		t.Fatalf("read of an evicted file still in use: %v", err)
	}
	release()
	release() // a second call must not close another user's file
	if _, err := f.ReadAt(make([]byte, 10), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read after the last release = %v, want os.ErrClosed", err)
	}
}

func TestFileCacheCloseWaitsForReaders(t *testing.T) {
	dir := t.TempDir()
	ds := seed(t, dir, [][]byte{content(1, 10)})
	s := openT(t, dir, Options{})
	f, release, err := s.files.acquire(record(t, s, ds[0]))
	if err != nil {
		t.Fatal(err)
	}
	// Release before the store's Close, which waits for it, if the test
	// fails early.
	t.Cleanup(release)
	done := make(chan struct{})
	go func() {
		s.files.close()
		close(done)
	}()
	for !closing(s.files) {
		runtime.Gosched()
	}
	if _, err := f.ReadAt(make([]byte, 10), 0); err != nil {
		t.Errorf("read while close waits: %v", err)
	}
	select {
	case <-done:
		t.Error("close returned while a reader held a file")
	default:
	}
	release()
	<-done
	if _, err := f.ReadAt(make([]byte, 10), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read after close = %v, want os.ErrClosed", err)
	}
}

func closing(c *fileCache) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// TestConcurrentReads reads random ranges of many pieces from several
// goroutines through a small open-file cache, while pieces are being added
// and one is being lost and fetched again.
func TestConcurrentReads(t *testing.T) {
	dir := t.TempDir()
	var datas [][]byte
	for i := range 64 {
		datas = append(datas, content(i, 1000+i))
	}
	ds := seed(t, dir, datas)
	s := openT(t, dir, Options{OpenFiles: 4})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() { readRandomly(t, s, ds, datas, uint64(g)) })
	}
	lost := content(999, 100)
	stop := make(chan struct{})
	wg.Go(func() { loseAndRefetch(t, s, lost, 8); close(stop) })
	wg.Go(func() { readLost(t, s, lost, stop) })
	wg.Wait()
}

// loseAndRefetch puts data, deletes its file behind the store's back and
// reads it until the store notices, rounds times.
func loseAndRefetch(t *testing.T, s *Store, data []byte, rounds int) {
	d := meta.Sum(data)
	for range rounds {
		if err := s.Put(d, data); err != nil {
			t.Errorf("Put: %v", err)
			return
		}
		s.files.evict(d) // so that the next read opens the file again
		if err := os.Remove(s.piecePath(d)); err != nil {
			t.Errorf("remove: %v", err)
			return
		}
		for s.Has(d) {
			_, err := s.ReadAt(pieceOf(d, len(data)), make([]byte, len(data)), 0)
			switch {
			case err == nil:
				s.files.evict(d) // another reader cached it before the removal
			case !errors.Is(err, fs.ErrNotExist):
				t.Errorf("ReadAt of a removed piece = %v, want an error wrapping fs.ErrNotExist", err)
				return
			}
		}
	}
}

// readLost reads data until stop, accepting its bytes or fs.ErrNotExist.
func readLost(t *testing.T, s *Store, data []byte, stop <-chan struct{}) {
	d := meta.Sum(data)
	p := make([]byte, len(data))
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, err := s.ReadAt(pieceOf(d, len(data)), p, 0)
		if err == nil && !bytes.Equal(p[:n], data) || err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadAt of a piece being lost: n=%d err=%v, or other bytes", n, err)
			return
		}
		runtime.Gosched()
	}
}

func readRandomly(t *testing.T, s *Store, ds []meta.Digest, datas [][]byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for range 2000 {
		i := r.IntN(len(ds))
		off := r.IntN(len(datas[i]))
		p := make([]byte, r.IntN(len(datas[i])-off)+1)
		n, err := s.ReadAt(pieceOf(ds[i], len(datas[i])), p, int64(off))
		if err != nil || !bytes.Equal(p[:n], datas[i][off:off+len(p)]) {
			t.Errorf("piece %d at %d: n=%d err=%v, or other bytes than were seeded", i, off, n, err)
			return
		}
	}
}

// record returns the store's record of the complete piece d.
func record(t *testing.T, s *Store, d meta.Digest) *piece {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.index.get(d)
	if !ok {
		t.Fatalf("piece %s is not complete", d)
	}
	return p
}

// TestStaleHandleNotServed races the read that opens a damaged piece file
// with another read that drops the piece and a fetch that stores it again:
// the handle opened for the dropped record must never serve a reader of the
// new one, however late it reaches the open-file cache. The stale read is
// of a large piece, so that it holds its handle long enough for the
// readers of the new record, which read in a loop meanwhile, to meet it.
func TestStaleHandleNotServed(t *testing.T) {
	dir := t.TempDir()
	data := content(3, 4<<20)
	const bad = 4<<20 - 100
	d := seed(t, dir, [][]byte{data})[0]
	flipByte(t, filepath.Join(dir, piecesDir, d.Hex()[:2], d.Hex()), bad)

	opened, resume := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	hook := func(meta.Digest) {
		if first.CompareAndSwap(false, true) {
			close(opened)
			<-resume
		}
	}
	s := openT(t, dir, Options{openHook: hook})
	stale := make(chan error, 1)
	go func() { // opens the damaged file, then waits before caching it
		_, err := s.Load(pieceOf(d, len(data)))
		stale <- err
	}()
	<-opened
	// Meanwhile a read meets the damage, drops the piece, and a fetch
	// stores the good bytes again.
	if _, err := s.ReadAt(pieceOf(d, len(data)), make([]byte, 10), 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("first read of the damaged piece = %v, want ErrCorrupt", err)
	}
	if err := s.Put(d, data); err != nil {
		t.Fatal(err)
	}
	close(resume)
	// Read the new record as soon as the stale read has cached its handle
	// (which it must not do) or has finished.
	var err error
	for done := false; !done; {
		select {
		case err = <-stale:
			done = true
		default:
			done = cachedFile(s, d)
		}
	}
	p := make([]byte, 256)
	if n, err := s.ReadAt(pieceOf(d, len(data)), p, bad-200); err != nil || !bytes.Equal(p[:n], data[bad-200:bad+56]) {
		t.Fatalf("read of the piece stored again: n=%d err=%v, or the damaged bytes", n, err)
	}
	if err == nil {
		err = <-stale
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load that opened the damaged file = %v, want ErrCorrupt", err)
	}
}

// cachedFile reports whether the open-file cache holds a file of d.
func cachedFile(s *Store, d meta.Digest) bool {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	return s.files.lru.Contains(d)
}
