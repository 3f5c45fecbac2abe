package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// crashOrigin serves a publish output on 127.0.0.1 and, while throttled,
// sends each piece, or the range of it a GET asks for, in a few chunks
// with pauses between them, so that a mount has many pieces in flight at
// any moment and a kill at a random moment finds some mid-body and some
// being written to the cache. It counts piece GETs in flight and answered
// in full.
type crashOrigin struct {
	srv   *httptest.Server
	dir   string
	files http.Handler

	throttle atomic.Bool
	inFlight atomic.Int64 // piece GETs being answered
	served   atomic.Int64 // piece GETs answered in full
}

// The throttle: a piece goes out in crashChunks chunks, crashPause apart.
const (
	crashChunks = 4
	crashPause  = 15 * time.Millisecond
)

// newCrashOrigin starts a throttled origin for dir; it stops when the test
// ends.
func newCrashOrigin(t *testing.T, dir string) *crashOrigin {
	o := &crashOrigin{dir: dir, files: http.FileServer(http.Dir(dir))}
	o.throttle.Store(true)
	o.srv = httptest.NewServer(o) // listens on 127.0.0.1
	t.Cleanup(o.srv.Close)
	return o
}

// URL is the origin's base URL.
func (o *crashOrigin) URL() string { return o.srv.URL }

func (o *crashOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/pieces/") {
		o.files.ServeHTTP(w, r)
		return
	}
	o.inFlight.Add(1)
	defer o.inFlight.Add(-1)
	if !o.throttle.Load() {
		o.files.ServeHTTP(w, r)
		o.served.Add(1)
		return
	}
	if o.serveSlowly(w, r) {
		o.served.Add(1)
	}
}

// serveSlowly sends the piece, or the one range of it that r asks for, in
// chunks and reports whether all of it went out; it gives up when the
// client goes away.
func (o *crashOrigin) serveSlowly(w http.ResponseWriter, r *http.Request) bool {
	b, err := os.ReadFile(filepath.Join(o.dir, filepath.FromSlash(filepath.Clean(r.URL.Path))))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return false
	}
	status := http.StatusOK
	if h := r.Header.Get("Range"); h != "" {
		rs := requestRanges(h, int64(len(b)))
		if len(rs) != 1 {
			http.Error(w, "one satisfiable range, please", http.StatusRequestedRangeNotSatisfiable)
			return false
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rs[0].off, rs[0].off+rs[0].n-1, len(b)))
		b, status = b[rs[0].off:rs[0].off+rs[0].n], http.StatusPartialContent
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	chunk := (len(b) + crashChunks - 1) / crashChunks
	for len(b) > 0 {
		n := min(chunk, len(b))
		if _, err := w.Write(b[:n]); err != nil {
			return false
		}
		_ = rc.Flush() // an error shows on the next Write
		b = b[n:]
		if len(b) == 0 {
			break
		}
		select {
		case <-r.Context().Done():
			return false
		case <-time.After(crashPause):
		}
	}
	return true
}
