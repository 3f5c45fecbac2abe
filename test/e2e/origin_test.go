package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingOrigin serves a publish output over HTTP on 127.0.0.1, counts
// the piece GETs and the byte ranges they ask for, and injects faults on
// request: corrupt bytes for chosen pieces, and stalls after a number of
// pieces or of bytes.
type countingOrigin struct {
	srv   *httptest.Server
	dir   string
	files http.Handler

	pieceGets  atomic.Int64
	pieceBytes atomic.Int64 // bytes of pieces the GETs asked for
	stalled    atomic.Int64 // piece GETs currently held by a stall

	mu         sync.Mutex             // guards perPath, ranges, corrupt, stallAfter and stallBytes
	perPath    map[string]int         // piece GETs by URL path
	ranges     map[string][]byteRange // the ranges asked for, by URL path (the whole piece without Range)
	corrupt    map[string]bool        // piece URL paths served with flipped bytes
	stallAfter int64                  // piece GETs served before the rest stall; <0: never
	stallBytes int64                  // bytes of pieces asked for before later GETs stall; <0: never

	release  chan struct{} // closed at Stop to let stalled handlers go
	stopOnce sync.Once
}

// newCountingOrigin starts an origin for dir; it stops when the test ends.
func newCountingOrigin(t *testing.T, dir string) *countingOrigin {
	o := &countingOrigin{
		dir:        dir,
		files:      http.FileServer(http.Dir(dir)),
		perPath:    map[string]int{},
		ranges:     map[string][]byteRange{},
		corrupt:    map[string]bool{},
		stallAfter: -1,
		stallBytes: -1,
		release:    make(chan struct{}),
	}
	// NewUnstartedServer listens on 127.0.0.1.
	o.srv = httptest.NewUnstartedServer(o)
	o.srv.Start()
	t.Cleanup(o.Stop)
	return o
}

// URL is the origin's base URL.
func (o *countingOrigin) URL() string { return o.srv.URL }

// PieceGets is the number of GETs under /pieces/ so far.
func (o *countingOrigin) PieceGets() int64 { return o.pieceGets.Load() }

// Stalled is the number of piece GETs held by a stall right now.
func (o *countingOrigin) Stalled() int64 { return o.stalled.Load() }

// Gets is the number of GETs of one piece URL path.
func (o *countingOrigin) Gets(urlPath string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.perPath[urlPath]
}

// Refetched returns the piece paths of which some byte was asked for by
// more than one GET, with how many bytes were asked for again: several
// ranged GETs of one piece are fine as long as their ranges do not
// overlap.
func (o *countingOrigin) Refetched() map[string]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := map[string]int64{}
	for p, rs := range o.ranges {
		if n := overlapBytes(rs); n > 0 {
			r[p] = n
		}
	}
	return r
}

// PieceBytes is the number of bytes of pieces the GETs so far asked for.
func (o *countingOrigin) PieceBytes() int64 { return o.pieceBytes.Load() }

// Corrupt makes the origin serve the piece at urlPath with flipped bytes.
func (o *countingOrigin) Corrupt(urlPath string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.corrupt[urlPath] = true
}

// StallAfter serves n more piece GETs normally and then holds every later
// one after half its body, until the client goes away or the origin stops.
// A negative n turns stalling off for new requests.
func (o *countingOrigin) StallAfter(n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stallAfter, o.stallBytes = -1, -1
	if n >= 0 {
		o.stallAfter = o.pieceGets.Load() + n
	}
}

// StallAfterBytes serves piece GETs normally until they have asked for n
// more bytes, and then holds every later one after half its body, as
// StallAfter does: a count of bytes rather than of GETs, for a mount that
// fetches a piece with several ranged GETs of growing size. A negative n
// turns stalling off for new requests.
func (o *countingOrigin) StallAfterBytes(n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stallAfter, o.stallBytes = -1, -1
	if n >= 0 {
		o.stallBytes = o.pieceBytes.Load() + n
	}
}

// Stop closes the server: later requests are refused. Safe to call twice.
func (o *countingOrigin) Stop() {
	o.stopOnce.Do(func() {
		close(o.release)
		o.srv.Close()
	})
}

func (o *countingOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/pieces/") {
		o.files.ServeHTTP(w, r)
		return
	}
	ranges := o.requestRanges(r)
	var asked int64
	for _, br := range ranges {
		asked += br.n
	}
	n := o.pieceGets.Add(1)
	o.mu.Lock()
	o.perPath[r.URL.Path]++
	o.ranges[r.URL.Path] = append(o.ranges[r.URL.Path], ranges...)
	corrupt := o.corrupt[r.URL.Path]
	stall := o.stallAfter >= 0 && n > o.stallAfter || o.stallBytes >= 0 && o.pieceBytes.Load() >= o.stallBytes
	o.pieceBytes.Add(asked)
	o.mu.Unlock()
	switch {
	case stall:
		o.serveStalled(w, r)
	case corrupt:
		o.serveCorrupt(w, r)
	default:
		o.files.ServeHTTP(w, r)
	}
}

// requestRanges returns the ranges of its piece that r asks for; none for
// a piece the origin does not have.
func (o *countingOrigin) requestRanges(r *http.Request) []byteRange {
	fi, err := os.Stat(o.piecePath(r))
	if err != nil {
		return nil
	}
	return requestRanges(r.Header.Get("Range"), fi.Size())
}

// serveCorrupt serves the piece with a few bytes flipped: the right
// length, the wrong hash. Ranges are honoured, so every fetch strategy
// sees bad bytes.
func (o *countingOrigin) serveCorrupt(w http.ResponseWriter, r *http.Request) {
	b, ok := o.readPiece(w, r)
	if !ok {
		return
	}
	for _, i := range []int{0, len(b) / 2, len(b) - 1} {
		b[i] ^= 0xff
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// serveStalled announces the piece, or the one range of it that r asks
// for, sends half, and hangs.
func (o *countingOrigin) serveStalled(w http.ResponseWriter, r *http.Request) {
	b, ok := o.readPiece(w, r)
	if !ok {
		return
	}
	status := http.StatusOK
	if rs := requestRanges(r.Header.Get("Range"), int64(len(b))); r.Header.Get("Range") != "" && len(rs) == 1 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rs[0].off, rs[0].off+rs[0].n-1, len(b)))
		b, status = b[rs[0].off:rs[0].off+rs[0].n], http.StatusPartialContent
	}
	o.stalled.Add(1)
	defer o.stalled.Add(-1)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b[:len(b)/2]) // the client may be gone; the stall ends either way
	http.NewResponseController(w).Flush()
	select {
	case <-r.Context().Done():
	case <-o.release:
	}
}

func (o *countingOrigin) readPiece(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := os.ReadFile(o.piecePath(r))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return nil, false
	}
	return b, true
}

// piecePath is the file r asks for.
func (o *countingOrigin) piecePath(r *http.Request) string {
	return filepath.Join(o.dir, filepath.FromSlash(filepath.Clean(r.URL.Path)))
}
