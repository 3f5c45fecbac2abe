package faults

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/origin"
)

// fault answers a request for a piece whose correct bytes are body, in some
// wrong way. quit is closed when the origin shuts down: a fault that stalls
// must end then, or when the client goes away, so that the server can close.
type fault func(w http.ResponseWriter, r *http.Request, body []byte, quit <-chan struct{})

// faultyOrigin serves a published tree with origin.Handler on 127.0.0.1,
// except that requests for one chosen path may get a fault instead.
type faultyOrigin struct {
	srv    *httptest.Server
	next   http.Handler      // the real origin
	bodies map[string][]byte // URL path → piece bytes
	quit   chan struct{}     // closed by close
	once   sync.Once         // guards the shutdown in close

	mu    sync.Mutex // guards path, fault, first and hits
	path  string     // URL path the fault applies to
	fault fault      // nil serves everything correctly
	first int        // if > 0, only that many requests for path get the fault
	hits  map[string]int
}

// newFaultyOrigin starts an origin for tr; the test's end closes it.
func newFaultyOrigin(t *testing.T, tr *tree) *faultyOrigin {
	t.Helper()
	o := &faultyOrigin{
		next:   origin.Handler(tr.root, nil),
		bodies: make(map[string][]byte, len(tr.pieces)),
		quit:   make(chan struct{}),
		hits:   make(map[string]int),
	}
	for d, b := range tr.pieces {
		o.bodies[piecePath(d)] = b
	}
	o.srv = httptest.NewUnstartedServer(o)
	// The faults make net/http complain (short writes, hijacked
	// connections); that is the point, not news.
	o.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	o.srv.Start()
	t.Cleanup(o.close)
	return o
}

// URL returns the origin's base URL.
func (o *faultyOrigin) URL() string { return o.srv.URL }

// inject gives requests for piece d the fault f: all of them, or only the
// first `first` if first > 0.
func (o *faultyOrigin) inject(d meta.Digest, f fault, first int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.path, o.fault, o.first = piecePath(d), f, first
}

// clear serves everything correctly from now on.
func (o *faultyOrigin) clear() { o.inject(meta.Digest{}, nil, 0) }

// hitsOf returns how many requests for piece d arrived.
func (o *faultyOrigin) hitsOf(d meta.Digest) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[piecePath(d)]
}

// ServeHTTP implements http.Handler.
func (o *faultyOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f := o.take(r.URL.Path); f != nil {
		f(w, r, o.bodies[r.URL.Path], o.quit)
		return
	}
	o.next.ServeHTTP(w, r)
}

// take counts a request for path and returns the fault it gets, or nil.
func (o *faultyOrigin) take(path string) fault {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.hits[path]++
	if path != o.path || (o.first > 0 && o.hits[path] > o.first) {
		return nil
	}
	return o.fault
}

// close ends the stalled faults, then closes the server, which waits for
// every handler to return. It may be called more than once.
func (o *faultyOrigin) close() {
	o.once.Do(func() {
		close(o.quit)
		o.srv.Close()
	})
}

// deadURL returns the base URL of a port on 127.0.0.1 that nothing listens
// on: a listener's port, closed again, so connecting to it is refused.
// Another listener could take the port meanwhile, but ephemeral ports are
// handed out from a large range at random, so that is not worth guarding.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}
