package fetch

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// joinCounter installs f's test hook and returns a channel that receives
// once for each caller that has joined a flight.
func joinCounter(f *Fetcher) <-chan struct{} {
	joined := make(chan struct{}, 256)
	f.onJoin = func() { joined <- struct{}{} }
	return joined
}

func TestPieceOneFetchForConcurrentCallers(t *testing.T) {
	const callers = 64
	data := testData(64 << 10)
	p := pieceOf(data)
	release := make(chan struct{})
	o := newOrigin(t, stall(release, serve(data)))
	f := newFetcher(t, o.URL, Options{})
	joined := joinCounter(f)

	results := make([]<-chan result, callers)
	for i := range results {
		results[i] = goPiece(context.Background(), f, p)
	}
	for range callers {
		await(t, joined, "callers joining")
	}
	close(release) // only now can the flight finish: every caller is in it
	for i, ch := range results {
		r := await(t, ch, "Piece")
		if r.err != nil || !bytes.Equal(r.data, data) {
			t.Fatalf("caller %d: got %d bytes, %v; want the bytes", i, len(r.data), r.err)
		}
	}
	if hits := o.hits.Load(); hits != 1 {
		t.Errorf("requests at the origin for %d callers: got %d, want 1", callers, hits)
	}
}

func TestPieceCancelledCallerLeavesTheFlight(t *testing.T) {
	data := testData(1000)
	p := pieceOf(data)
	release := make(chan struct{})
	o := newOrigin(t, stall(release, serve(data)))
	f := newFetcher(t, o.URL, Options{})
	joined := joinCounter(f)

	ctx, cancel := context.WithCancel(context.Background())
	impatient := goPiece(ctx, f, p)
	patient := goPiece(context.Background(), f, p)
	await(t, joined, "first caller joining")
	await(t, joined, "second caller joining")
	await(t, o.arrived, "request at the origin")

	cancel()
	r := await(t, impatient, "the cancelled caller") // while the origin still stalls
	if !errors.Is(r.err, context.Canceled) || r.data != nil {
		t.Errorf("cancelled caller: got %d bytes, %v; want context.Canceled", len(r.data), r.err)
	}
	close(release)
	r = await(t, patient, "the patient caller")
	if r.err != nil || !bytes.Equal(r.data, data) {
		t.Errorf("patient caller: got %d bytes, %v; want the bytes", len(r.data), r.err)
	}
	if hits := o.hits.Load(); hits != 1 {
		t.Errorf("requests at the origin: got %d, want 1", hits)
	}
}

func TestPieceCancelledBeforeStart(t *testing.T) {
	o := newOrigin(t, serve(testData(10)))
	f := newFetcher(t, o.URL, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Piece(ctx, pieceOf(testData(10))); !errors.Is(err, context.Canceled) {
		t.Errorf("Piece with a cancelled context: got %v, want context.Canceled", err)
	}
	if hits := o.hits.Load(); hits != 0 {
		t.Errorf("requests at the origin: got %d, want 0", hits)
	}
}

func TestPieceStallFailsWithinTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	never := make(chan struct{})
	o := newOrigin(t, stall(never, nil))
	f := newFetcher(t, o.URL, Options{Timeout: timeout})

	start := time.Now()
	r := await(t, goPiece(context.Background(), f, pieceOf(testData(10))), "Piece from a stalled origin")
	if !errors.Is(r.err, context.DeadlineExceeded) || r.data != nil {
		t.Errorf("Piece from a stalled origin: got %d bytes, %v; want context.DeadlineExceeded", len(r.data), r.err)
	}
	// Not a speed check: the fetch must not outlive its Timeout by more than
	// scheduling noise, or a read could hang on a dead origin.
	if elapsed := time.Since(start); elapsed > timeout+5*time.Second {
		t.Errorf("Piece from a stalled origin returned after %v, Timeout is %v", elapsed, timeout)
	}
}

func TestPieceRetriesStopAtTimeout(t *testing.T) {
	// An origin that always fails, and a backoff far longer than the Timeout:
	// the wait for the second attempt must end with the Timeout.
	o := newOrigin(t, status(503))
	f := newFetcher(t, o.URL, Options{Timeout: 300 * time.Millisecond, Backoff: time.Hour, Attempts: 10})
	r := await(t, goPiece(context.Background(), f, pieceOf(testData(10))), "Piece")
	var se *StatusError
	if !errors.Is(r.err, context.DeadlineExceeded) || !errors.As(r.err, &se) {
		t.Errorf("Piece: got %v, want the 503 and context.DeadlineExceeded", r.err)
	}
	if hits := o.hits.Load(); hits != 1 {
		t.Errorf("requests at the origin: got %d, want 1", hits)
	}
}
