package fetch

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

func TestCloseCancelsInFlightFetch(t *testing.T) {
	never := make(chan struct{})
	o := newOrigin(t, stall(never, nil))
	f := newFetcher(t, o.URL, Options{Timeout: time.Hour})
	p := pieceOf(testData(10))

	pending := goPiece(context.Background(), f, p)
	await(t, o.arrived, "request at the origin")
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	if err := await(t, closed, "Close"); err != nil {
		t.Errorf("Close: %v", err)
	}
	if r := await(t, pending, "Piece"); !errors.Is(r.err, context.Canceled) {
		t.Errorf("Piece cut short by Close: got %v, want context.Canceled", r.err)
	}
}

func TestMethodsAfterClose(t *testing.T) {
	o := newOrigin(t, serve(testData(10)))
	f := newFetcher(t, o.URL, Options{})
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	if _, err := f.Piece(ctx, pieceOf(testData(10))); !errors.Is(err, ErrClosed) {
		t.Errorf("Piece after Close: got %v, want ErrClosed", err)
	}
	if _, err := f.Tag(ctx, "latest"); !errors.Is(err, ErrClosed) {
		t.Errorf("Tag after Close: got %v, want ErrClosed", err)
	}
	if _, err := f.Manifest(ctx, pieceOf(testData(10)).Digest); !errors.Is(err, ErrClosed) {
		t.Errorf("Manifest after Close: got %v, want ErrClosed", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if hits := o.hits.Load(); hits != 0 {
		t.Errorf("requests at the origin: got %d, want 0", hits)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	data := testData(1 << 20)
	never := make(chan struct{})
	good := newOrigin(t, serve(data))
	stalled := newOrigin(t, stall(never, nil))
	f, err := New(good.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stuck, err := New(stalled.URL, Options{Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	for range 3 {
		if got, err := f.Piece(context.Background(), pieceOf(data)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Piece: got %d bytes, %v", len(got), err)
		}
	}
	pending := goPiece(context.Background(), stuck, pieceOf(data))
	await(t, stalled.arrived, "request at the stalled origin")

	f.Close()
	stuck.Close()
	await(t, pending, "Piece cut short by Close")
	good.Close()
	stalled.Close()
	waitGoroutines(t, before)
}

// waitGoroutines polls until the number of goroutines is back to at most
// want; goroutines that have been told to stop take a moment to exit.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: got %d, want at most %d\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// blockingSink blocks in Put until release is closed.
type blockingSink struct {
	entered chan struct{}
	release chan struct{}
	done    atomic.Bool
}

func (s *blockingSink) Load(meta.Piece) ([]byte, error) { return nil, fs.ErrNotExist }

func (s *blockingSink) Create(p meta.Piece) (Writer, error) { return newMemWriter(p, s.Put), nil }

func (s *blockingSink) Put(meta.Digest, []byte) error {
	close(s.entered)
	<-s.release
	s.done.Store(true)
	return nil
}

func TestCloseWaitsForSink(t *testing.T) {
	data := testData(100)
	sink := &blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
	o := newOrigin(t, serve(data))
	f := newFetcher(t, o.URL, Options{Sink: sink})
	pending := goPiece(context.Background(), f, pieceOf(data))
	await(t, sink.entered, "Sink.Put")
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	// Give a wrong Close time to return early; a right one cannot, so this
	// wait can only make the test miss the bug, never fail without it.
	select {
	case <-closed:
		t.Fatal("Close returned while Sink.Put was still running")
	case <-time.After(100 * time.Millisecond):
	}
	close(sink.release)
	await(t, closed, "Close")
	if !sink.done.Load() {
		t.Error("Close returned while Sink.Put was still running")
	}
	if r := await(t, pending, "Piece"); r.err != nil || !bytes.Equal(r.data, data) {
		t.Errorf("Piece: got %d bytes, %v; want the bytes", len(r.data), r.err)
	}
}
