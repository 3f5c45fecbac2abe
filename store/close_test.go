package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// TestUseAfterClose calls every method after Close: each fails with
// ErrClosed, none panics.
func TestUseAfterClose(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := content(1, 100)
	d := putT(t, s, data)
	m := []byte(`{"version":1}`)
	if err := s.SaveManifest("o", "t", meta.Sum(m), m); err != nil {
		t.Fatal(err)
	}
	open := content(2, 10)
	w, err := s.Create(meta.Sum(open), int64(len(open)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(open); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"ReadAt":                           func() error { _, err := s.ReadAt(pieceOf(d, 10), make([]byte, 10), 0); return err },
		"Load":                             func() error { _, err := s.Load(pieceOf(d, 10)); return err },
		"Put":                              func() error { return s.Put(meta.Sum([]byte("new")), []byte("new")) },
		"Create":                           func() error { _, err := s.Create(meta.Sum([]byte("new")), 3); return err },
		"Commit of a Writer opened before": w.Commit,
		"SaveManifest":                     func() error { return s.SaveManifest("o", "t", meta.Sum(m), m) },
		"LoadManifest":                     func() error { _, err := s.LoadManifest(meta.Sum(m)); return err },
		"ResolveTag":                       func() error { _, _, err := s.ResolveTag("o", "t"); return err },
		"Verify":                           func() error { _, _, err := s.Verify(context.Background(), nil); return err },
		"VerifyManifests":                  func() error { _, _, err := s.VerifyManifests(context.Background(), nil); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) || !errors.Is(err, fs.ErrClosed) {
			t.Errorf("%s after Close = %v, want an error wrapping ErrClosed and fs.ErrClosed", name, err)
		}
	}
	if s.Has(d) {
		t.Error("Has after Close = true, want false")
	}
	if got := files(t, s.Dir(), piecesDir); len(got) != 1 {
		t.Errorf("files after Close = %v, want only the complete piece (the Writer's .part removed)", got)
	}
}

// TestCloseRacesReaders closes the store while goroutines read, load, put
// and verify: every call either works or fails with ErrClosed, and Close
// returns with every file closed.
func TestCloseRacesReaders(t *testing.T) {
	dir := t.TempDir()
	var datas [][]byte
	for i := range 16 {
		datas = append(datas, content(i, 4096+i))
	}
	ds := seed(t, dir, datas)
	fds := countFDs(t)
	s, err := Open(dir, Options{OpenFiles: 4, MaxBytes: 12 * 4096})
	if err != nil {
		t.Fatal(err)
	}
	var calls, closedErrs atomic.Int64
	check := func(what string, i int, got []byte, err error) bool {
		calls.Add(1)
		switch {
		case errors.Is(err, ErrClosed):
			closedErrs.Add(1)
			return false
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrBusy), errors.Is(err, ErrFull):
			return true // evicted by a put; put by the other putter; all pinned
		case err != nil:
			t.Errorf("%s of piece %d: %v", what, i, err)
			return false
		case got != nil && !bytes.Contains(datas[i], got):
			t.Errorf("%s of piece %d returned other bytes", what, i)
		}
		return true
	}
	workers := map[string]func(i int) bool{
		"ReadAt": func(i int) bool {
			p := make([]byte, 100)
			n, err := s.ReadAt(pieceOf(ds[i], len(datas[i])), p, int64(i))
			return check("ReadAt", i, p[:n], err)
		},
		"Load": func(i int) bool {
			b, err := s.Load(pieceOf(ds[i], len(datas[i])))
			return check("Load", i, b, err)
		},
		"Put": func(i int) bool {
			return check("Put", i, nil, s.Put(ds[i], datas[i]))
		},
		"Verify": func(int) bool {
			_, _, err := s.Verify(context.Background(), nil)
			return check("Verify", 0, nil, err)
		},
	}
	var wg sync.WaitGroup
	started := make(chan struct{}, len(workers)*2)
	for _, work := range workers {
		for g := range 2 {
			wg.Go(func() {
				started <- struct{}{}
				for i := g; work(i % len(ds)); i++ {
					runtime.Gosched()
				}
			})
		}
	}
	for range len(workers) * 2 {
		<-started
	}
	for calls.Load() < 300 { // let the calls get going, so that Close meets many
		runtime.Gosched()
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	wg.Wait()
	if closedErrs.Load() != int64(len(workers)*2) {
		t.Errorf("%d of %d workers stopped with ErrClosed, want all", closedErrs.Load(), len(workers)*2)
	}
	if got := countFDs(t); got != fds {
		t.Errorf("open files after Close = %d, want %d", got, fds)
	}
	t.Logf("%d calls raced Close", calls.Load())
}
