package fetch

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// deadURL is an http URL on 127.0.0.1 where nothing listens: a mirror that
// is down.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	return url
}

func mirrors(urls ...string) []Origin {
	var out []Origin
	for _, u := range urls {
		out = append(out, Origin{URL: u})
	}
	return out
}

// TestMirrorsFailOver: whichever of the origins before it is corrupt, down
// or stalled, a piece comes verified from the one that serves it; each bad
// one costs one attempt and is then passed over, so the next piece goes
// straight to the good one.
func TestMirrorsFailOver(t *testing.T) {
	data := testData(100_000)
	p := pieceOf(data)
	other := testData(50_000)
	q := pieceOf(other)
	serveBoth := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/" + meta.PiecePath(p.Digest):
			serve(data)(w, r)
		case "/" + meta.PiecePath(q.Digest):
			serve(other)(w, r)
		default:
			http.NotFound(w, r)
		}
	}
	release := make(chan struct{})
	defer close(release)
	for _, tt := range []struct {
		name string
		bad  func(t *testing.T) string
	}{
		{"corrupt", func(t *testing.T) string {
			return newOrigin(t, func(w http.ResponseWriter, r *http.Request) { serve(corrupt(data))(w, r) }).URL
		}},
		{"down", deadURL},
		{"stalled", func(t *testing.T) string { return newOrigin(t, stall(release, serveBoth)).URL }},
		{"5xx", func(t *testing.T) string { return newOrigin(t, status(http.StatusBadGateway)).URL }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := tt.bad(t)
			good := newOrigin(t, serveBoth)
			// A second without a byte is a stall: long enough that a loaded
			// machine does not make the good mirror look stalled too.
			f := newFetcher(t, bad, Options{Mirrors: mirrors(good.URL), Attempts: 2, Timeout: time.Minute, StallTimeout: time.Second})
			got, err := f.Piece(context.Background(), p)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Piece: %d bytes, %v; want the piece's %d", len(got), err, len(data))
			}
			if _, err := f.Piece(context.Background(), q); err != nil {
				t.Fatalf("second Piece: %v", err)
			}
			s := f.Stats()
			if s.Failovers != 1 || len(s.Origins) != 2 {
				t.Fatalf("Stats: %d failovers, %d origins; want 1 and 2", s.Failovers, len(s.Origins))
			}
			if o := s.Origins[0]; o.Failures != 1 || o.Healthy || o.Requests != 1 {
				t.Errorf("bad origin: %+v; want 1 request, 1 failure, benched", o)
			}
			if o := s.Origins[1]; o.Requests != 2 || o.Failures != 0 || !o.Healthy || o.Bytes != int64(len(data)+len(other)) {
				t.Errorf("good mirror: %+v; want 2 requests, both pieces' bytes, healthy", o)
			}
		})
	}
}

// TestMirrorLagging: a mirror that does not have an object yet (404) is
// passed over for that fetch only, and not benched: it is behind, not
// broken.
func TestMirrorLagging(t *testing.T) {
	data := testData(10_000)
	lagging := newOrigin(t, status(http.StatusNotFound))
	good := newOrigin(t, serve(data))
	f := newFetcher(t, lagging.URL, Options{Mirrors: mirrors(good.URL)})
	if _, err := f.Piece(context.Background(), pieceOf(data)); err != nil {
		t.Fatal(err)
	}
	if o := f.Stats().Origins[0]; !o.Healthy || o.Failures != 0 {
		t.Errorf("lagging origin: %+v; want healthy, no failures", o)
	}
	if _, err := f.Piece(context.Background(), pieceOf(testData(20_000))); err == nil {
		t.Fatal("a piece no origin has: no error")
	}
	// The origin is asked once per piece; the mirror once for the first,
	// and for the second, whose bytes it gets wrong, until the fetch's 4 + 1
	// attempts are spent: the origin's 404 was not worth repeating.
	if lagging.hits.Load() != 2 || good.hits.Load() != 5 {
		t.Errorf("requests: origin %d, mirror %d; want 2 and 5", lagging.hits.Load(), good.hits.Load())
	}
}

// TestMirrorBenchEnds: a benched origin is tried again once its bench is
// over, and one success makes it the first choice again.
func TestMirrorBenchEnds(t *testing.T) {
	data := testData(10_000)
	primary := newOrigin(t, failFirst(1, status(http.StatusServiceUnavailable), serve(data)))
	mirror := newOrigin(t, serve(data))
	f := newFetcher(t, primary.URL, Options{Mirrors: mirrors(mirror.URL)})
	get := func() {
		t.Helper()
		if _, err := f.Piece(context.Background(), pieceOf(data)); err != nil {
			t.Fatal(err)
		}
	}
	get()
	if primary.hits.Load() != 1 || mirror.hits.Load() != 1 || f.Stats().Origins[0].Healthy {
		t.Fatalf("requests: %d, %d; want 1 and 1, and the origin benched", primary.hits.Load(), mirror.hits.Load())
	}
	get() // benched: straight to the mirror
	if primary.hits.Load() != 1 || mirror.hits.Load() != 2 {
		t.Fatalf("requests while benched: %d, %d; want 1 and 2", primary.hits.Load(), mirror.hits.Load())
	}
	// End the bench without waiting for it.
	f.sources[0].mu.Lock()
	f.sources[0].until = time.Now().Add(-time.Millisecond)
	f.sources[0].mu.Unlock()
	get()
	get()
	if primary.hits.Load() != 3 || mirror.hits.Load() != 2 || !f.Stats().Origins[0].Healthy {
		t.Errorf("requests after the bench: %d, %d; want 3 and 2, and the origin healthy", primary.hits.Load(), mirror.hits.Load())
	}
}

// TestMirrorsAllFail: when every origin fails, the error names the last
// one tried, and the fetch ends within its attempts.
func TestMirrorsAllFail(t *testing.T) {
	a := newOrigin(t, status(http.StatusInternalServerError))
	b := newOrigin(t, status(http.StatusForbidden))
	f := newFetcher(t, a.URL, Options{Mirrors: mirrors(b.URL), Attempts: 3})
	_, err := f.Piece(context.Background(), pieceOf(testData(1000)))
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("Piece: %v; want a StatusError", err)
	}
	// a fails (benched), b answers 403 (ruled out for this fetch), then a
	// again until the attempts run out: 3 + 1 for the mirror.
	if got := a.hits.Load() + b.hits.Load(); got != 4 || b.hits.Load() != 1 {
		t.Errorf("requests: %d to the origin, %d to the mirror; want 3 and 1", a.hits.Load(), b.hits.Load())
	}
}

// TestMirrorsRanges: block ranges fail over too, a corrupt block costing
// only the attempt that carried it.
func TestMirrorsRanges(t *testing.T) {
	p, data, table := blockPiece()
	bad := bytes.Clone(data)
	bad[2*testBlock+7] ^= 1
	corruptMirror := rangeOrigin(t, p, data, table, serveRange(bad))
	good := rangeOrigin(t, p, data, table, serveRange(data))
	// No stall on a loaded machine may stand in for the corrupt block.
	f := newFetcher(t, corruptMirror.URL, Options{Mirrors: mirrors(good.URL), Timeout: time.Minute, StallTimeout: 30 * time.Second})
	got, err := fetchSpanOf(f, Span{Piece: p, BlockSize: testBlock, First: 1, Last: 3})
	if err != nil || !bytes.Equal(got, data[testBlock:4*testBlock]) {
		t.Fatalf("Range: %d bytes, %v", len(got), err)
	}
	if s := f.Stats(); s.VerifyFailures != 1 || s.Failovers < 1 {
		t.Errorf("Stats: %+v; want 1 verification failure and a failover", s)
	}
}

// TestMirrorGivenTwice: the same origin twice is a mistake, said at New.
func TestMirrorGivenTwice(t *testing.T) {
	if _, err := New("http://127.0.0.1:1/x/", Options{Mirrors: mirrors("http://127.0.0.1:1/x")}); err == nil {
		t.Error("New accepted an origin given twice")
	}
	if _, err := New("http://127.0.0.1:1/x", Options{Mirrors: mirrors("ftp://h/")}); err == nil {
		t.Error("New accepted an ftp mirror")
	}
}

// TestMirrorsAllDownBackOff: when every origin has failed and is benched,
// the next attempt waits for the backoff instead of going straight back
// to one of them.
func TestMirrorsAllDownBackOff(t *testing.T) {
	a := newOrigin(t, status(http.StatusServiceUnavailable))
	b := newOrigin(t, status(http.StatusServiceUnavailable))
	const base = 100 * time.Millisecond
	f := newFetcher(t, a.URL, Options{Mirrors: mirrors(b.URL), Attempts: 2, Backoff: base})
	start := time.Now()
	if _, err := f.Piece(context.Background(), pieceOf(testData(1000))); err == nil {
		t.Fatal("want an error")
	}
	// a, then b at once (not benched), then a again (benched) after the
	// second retry's backoff: base doubled, jittered down by at most half.
	if d := time.Since(start); d < base {
		t.Errorf("three attempts on two failing origins took %v, want at least the %v backoff before the third", d, base)
	}
	if a.hits.Load() != 2 || b.hits.Load() != 1 {
		t.Errorf("requests: %d and %d, want 2 and 1", a.hits.Load(), b.hits.Load())
	}
}
