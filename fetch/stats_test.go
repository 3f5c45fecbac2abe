package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// observed records what Options.Observe is told.
type observed struct {
	mu    sync.Mutex // guards kinds and errs
	kinds []string
	errs  []error
}

func (o *observed) observe(kind string, d time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.kinds = append(o.kinds, kind)
	o.errs = append(o.errs, err)
}

// only returns the one fetch observed, failing the test unless there was
// exactly one.
func (o *observed) only(t *testing.T) (string, error) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.kinds) != 1 {
		t.Fatalf("Observe called for %v, want one fetch", o.kinds)
	}
	return o.kinds[0], o.errs[0]
}

// checkStats compares f's totals with want's, and checks that the one
// origin's counts are the totals.
func checkStats(t *testing.T, f *Fetcher, want Stats) {
	t.Helper()
	got := f.Stats()
	origins := got.Origins
	got.Origins = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stats() = %+v\n                want %+v", got, want)
	}
	if len(origins) != 1 || origins[0].Requests != got.Requests || origins[0].Bytes != got.Bytes {
		t.Errorf("Stats().Origins = %+v, want one origin with the totals' %d requests and %d bytes", origins, got.Requests, got.Bytes)
	}
}

// errorPage is the body of status's answers.
var errorPage = int64(len("test\n"))

// TestStatsRetries: a piece that comes on the third attempt counts three
// requests, two retries, one piece, every body byte (the error pages' too)
// and one observed fetch that succeeded.
func TestStatsRetries(t *testing.T) {
	data := testData(100_000)
	o := newOrigin(t, failFirst(2, status(http.StatusServiceUnavailable), serve(data)))
	var obs observed
	f := newFetcher(t, o.URL, Options{Attempts: 3, Observe: obs.observe})
	if _, err := f.Piece(context.Background(), pieceOf(data)); err != nil {
		t.Fatal(err)
	}
	checkStats(t, f, Stats{Requests: 3, Pieces: 1, Bytes: int64(len(data)) + 2*errorPage, Retries: 2})
	if kind, err := obs.only(t); kind != "piece" || err != nil {
		t.Errorf("observed %q, %v; want piece, nil", kind, err)
	}
}

// TestStatsCorruptPiece: every attempt that receives bytes not matching the
// digest is a verification failure, and the fetch is observed failing.
func TestStatsCorruptPiece(t *testing.T) {
	data := testData(10_000)
	o := newOrigin(t, serve(corrupt(data)))
	var obs observed
	f := newFetcher(t, o.URL, Options{Attempts: 2, Observe: obs.observe})
	if _, err := f.Piece(context.Background(), pieceOf(data)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Piece: %v, want ErrCorrupt", err)
	}
	checkStats(t, f, Stats{Requests: 2, Bytes: 2 * int64(len(data)), Retries: 1, VerifyFailures: 2})
	if kind, err := obs.only(t); kind != "piece" || !errors.Is(err, ErrCorrupt) {
		t.Errorf("observed %q, %v; want piece, ErrCorrupt", kind, err)
	}
}

// TestStatsCorruptManifest counts a manifest whose bytes fail their digest.
func TestStatsCorruptManifest(t *testing.T) {
	body := []byte(`{"format":"piecefs-manifest"}`)
	o := newOrigin(t, serve(corrupt(body)))
	f := newFetcher(t, o.URL, Options{Attempts: 1})
	if _, err := f.Manifest(context.Background(), meta.Sum(body)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Manifest: %v, want ErrCorrupt", err)
	}
	checkStats(t, f, Stats{Requests: 1, Bytes: int64(len(body)), VerifyFailures: 1})
}

// TestStatsRanges: a block run counts as a range and its table as a
// fetch of its own; a corrupt block in the next run is one verification
// failure, and a failed range is no range.
func TestStatsRanges(t *testing.T) {
	p, data, table := blockPiece()
	bad := bytes.Clone(data)
	bad[3*testBlock+5] ^= 1
	o := rangeOrigin(t, p, data, table, serveRange(bad))
	var obs observed
	f := newFetcher(t, o.URL, Options{Attempts: 1, Observe: obs.observe})
	if _, err := fetchSpanOf(f, Span{Piece: p, BlockSize: testBlock, First: 1, Last: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := fetchSpanOf(f, Span{Piece: p, BlockSize: testBlock, First: 3, Last: 3}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Range of the corrupt block: %v, want ErrCorrupt", err)
	}
	checkStats(t, f, Stats{Requests: 3, Ranges: 1, Bytes: int64(len(table)) + 3*testBlock, VerifyFailures: 1})
	obs.mu.Lock()
	defer obs.mu.Unlock()
	kinds := map[string]int{}
	for _, k := range obs.kinds {
		kinds[k]++
	}
	if kinds["range"] != 2 || kinds["table"] != 1 || len(obs.kinds) != 3 {
		t.Errorf("observed %v, want two ranges and a table", obs.kinds)
	}
}

// TestStatsInFlight counts a fetch while it waits for the origin, and not
// once it has ended.
func TestStatsInFlight(t *testing.T) {
	data := testData(1000)
	release := make(chan struct{})
	o := newOrigin(t, stall(release, serve(data)))
	f := newFetcher(t, o.URL, Options{StallTimeout: time.Minute})
	ch := goPiece(context.Background(), f, pieceOf(data))
	await(t, o.arrived, "request")
	if got := f.Stats().InFlight; got != 1 {
		t.Errorf("InFlight during the fetch = %d, want 1", got)
	}
	close(release)
	if r := await(t, ch, "piece"); r.err != nil {
		t.Fatal(r.err)
	}
	checkStats(t, f, Stats{Requests: 1, Pieces: 1, Bytes: int64(len(data))})
}
