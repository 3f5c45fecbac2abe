package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blkOrigin serves a publish output directory over HTTP on 127.0.0.1 with
// Go's file server (which honours Range), and logs every piece request: its
// path, its Range header and its status. It can send piece bodies slowly,
// so that a test finds fetches in flight, and serve garbage for every
// piece, with the right lengths and correct block tables.
type blkOrigin struct {
	srv   *httptest.Server
	dir   string
	files http.Handler

	pace    atomic.Int64 // sleep, in nanoseconds, before each blkPaceChunk bytes of a piece body; 0: full speed
	garbage atomic.Bool  // serve every piece's bytes XORed with 0x5a

	mu   sync.Mutex // guards reqs
	reqs []blkRequest

	stopOnce sync.Once
}

// blkRequest is one piece request as the origin answered it.
type blkRequest struct {
	path        string // URL path
	rangeHeader string // "" when the request had none
	status      int
}

// blkPaceChunk is how many bytes of a paced body are written at once.
const blkPaceChunk = 16 << 10

// newBlkOrigin starts an origin for dir; it stops when the test ends.
func newBlkOrigin(t *testing.T, dir string) *blkOrigin {
	o := &blkOrigin{dir: dir, files: http.FileServer(http.Dir(dir))}
	o.srv = httptest.NewServer(o) // on 127.0.0.1
	t.Cleanup(o.Stop)
	return o
}

// URL is the origin's base URL.
func (o *blkOrigin) URL() string { return o.srv.URL }

// SetPace makes every later write of a piece body wait d before each
// blkPaceChunk bytes; 0 sends at full speed.
func (o *blkOrigin) SetPace(d time.Duration) { o.pace.Store(int64(d)) }

// SetGarbage makes the origin serve garbage for every piece from now on.
func (o *blkOrigin) SetGarbage(on bool) { o.garbage.Store(on) }

// Stop closes the server and every connection to it: the origin is down,
// and later connections are refused. Safe to call twice.
func (o *blkOrigin) Stop() {
	o.stopOnce.Do(func() {
		o.srv.CloseClientConnections()
		o.srv.Close()
	})
}

// PieceRequests returns every piece request so far.
func (o *blkOrigin) PieceRequests() []blkRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]blkRequest(nil), o.reqs...)
}

func (o *blkOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/pieces/") {
		o.files.ServeHTTP(w, r)
		return
	}
	sw := &blkWriter{ResponseWriter: w, r: r, pace: time.Duration(o.pace.Load())}
	if o.garbage.Load() {
		o.serveGarbage(sw, r)
	} else {
		o.files.ServeHTTP(sw, r)
	}
	o.mu.Lock()
	o.reqs = append(o.reqs, blkRequest{path: r.URL.Path, rangeHeader: r.Header.Get("Range"), status: sw.statusOr200()})
	o.mu.Unlock()
}

// serveGarbage serves the piece with every byte changed: the right length,
// no block that matches its hash. Ranges are honoured.
func (o *blkOrigin) serveGarbage(w http.ResponseWriter, r *http.Request) {
	f, err := os.Open(filepath.Join(o.dir, filepath.FromSlash(filepath.Clean(r.URL.Path))))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer f.Close()
	http.ServeContent(w, r, "", time.Time{}, blkGarbage{f})
}

// blkGarbage reads a file with every byte XORed with 0x5a.
type blkGarbage struct{ f *os.File }

func (g blkGarbage) Read(p []byte) (int, error) {
	n, err := g.f.Read(p)
	for i := range p[:n] {
		p[i] ^= 0x5a
	}
	return n, err
}

func (g blkGarbage) Seek(off int64, whence int) (int64, error) { return g.f.Seek(off, whence) }

// blkWriter records a response's status and paces its body.
type blkWriter struct {
	http.ResponseWriter
	r      *http.Request
	pace   time.Duration
	status int
}

func (w *blkWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *blkWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.pace <= 0 {
		return w.ResponseWriter.Write(p)
	}
	n := 0
	for n < len(p) {
		select {
		case <-w.r.Context().Done():
			return n, w.r.Context().Err()
		case <-time.After(w.pace):
		}
		m, err := w.ResponseWriter.Write(p[n:min(n+blkPaceChunk, len(p))])
		n += m
		if err != nil {
			return n, err
		}
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
	return n, nil
}

func (w *blkWriter) statusOr200() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
