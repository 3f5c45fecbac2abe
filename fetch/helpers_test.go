package fetch

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// testData returns n deterministic bytes, the same in every process (the
// proxy test's child computes them too).
func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func pieceOf(data []byte) meta.Piece {
	return meta.Piece{Digest: meta.Sum(data), Size: int64(len(data))}
}

// origin is an httptest server on 127.0.0.1 that counts requests and answers
// them with a handler the test chooses.
type origin struct {
	*httptest.Server
	hits    atomic.Int64
	arrived chan struct{} // receives once per request, if the test made it
	handler http.HandlerFunc

	mu   sync.Mutex // guards path
	path string     // of the latest request
}

// lastPath returns the URL path of the latest request.
func (o *origin) lastPath() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.path
}

func newOrigin(t *testing.T, h http.HandlerFunc) *origin {
	t.Helper()
	o := &origin{handler: h, arrived: make(chan struct{}, 128)}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.path = r.URL.Path
		o.mu.Unlock()
		o.hits.Add(1)
		o.arrived <- struct{}{}
		o.handler(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func newFetcher(t *testing.T, base string, opts Options) *Fetcher {
	t.Helper()
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	f, err := New(base, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", base, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// serve writes body with an exact Content-Length.
func serve(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}
}

// serveChunked writes body without a Content-Length, so only its end tells
// the client how long it is.
func serveChunked(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		w.Write(body)
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "test", code) }
}

// failFirst answers the first n requests with first, then hands over to next.
func failFirst(n int64, first, next http.HandlerFunc) http.HandlerFunc {
	var seen atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			first(w, r)
			return
		}
		next(w, r)
	}
}

// stall blocks until the request is abandoned or release is closed, then
// answers with next.
func stall(release <-chan struct{}, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			return
		case <-release:
			next(w, r)
		}
	}
}

type result struct {
	data []byte
	err  error
}

// goPiece calls f.Piece in a goroutine and delivers its result.
func goPiece(ctx context.Context, f *Fetcher, p meta.Piece) <-chan result {
	ch := make(chan result, 1)
	go func() {
		data, err := f.Piece(ctx, p)
		ch <- result{data, err}
	}()
	return ch
}

// await returns the value from ch, failing the test if it takes so long that
// something must be hanging (this is a guard against deadlock, not a speed
// requirement).
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: still waiting after 20s", what)
		panic("unreachable")
	}
}

func corrupt(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)/2] ^= 0x40
	return c
}

// recordingSink records what it is given and fails with err if err is set.
type recordingSink struct {
	mu  sync.Mutex // guards got
	got map[meta.Digest][]byte
	err error
}

// Load hands back what was put, as a store would.
func (s *recordingSink) Load(p meta.Piece) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.got[p.Digest]; ok && int64(len(b)) == p.Size {
		return b, nil
	}
	return nil, fs.ErrNotExist
}

func (s *recordingSink) Create(p meta.Piece) (Writer, error) { return newMemWriter(p, s.Put), nil }

// Put records a commit: data is the whole piece if every byte was written.
func (s *recordingSink) Put(d meta.Digest, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got == nil {
		s.got = make(map[meta.Digest][]byte)
	}
	s.got[d] = bytes.Clone(data)
	return s.err
}

// memWriter is a Writer into memory whose Commit hands the piece to commit
// if every byte of it was written, and fails otherwise with errPartial
// unless commit is given the bytes written so far by a partial sink.
type memWriter struct {
	p      meta.Piece
	buf    []byte
	have   map[int64]int64 // offset → length of each write
	commit func(meta.Digest, []byte) error
}

func newMemWriter(p meta.Piece, commit func(meta.Digest, []byte) error) *memWriter {
	return &memWriter{p: p, buf: make([]byte, p.Size), have: make(map[int64]int64), commit: commit}
}

func (w *memWriter) WriteAt(b []byte, off int64) (int, error) {
	if off%meta.DefaultBlockSize != 0 || (len(b)%meta.DefaultBlockSize != 0 && off+int64(len(b)) != w.p.Size) || off+int64(len(b)) > w.p.Size {
		return 0, fmt.Errorf("write of %d bytes at %d: not whole store blocks of a piece of %d", len(b), off, w.p.Size)
	}
	w.have[off] = int64(len(b))
	return copy(w.buf[off:], b), nil
}

// written returns the bytes written, in order, as a map of offsets.
func (w *memWriter) complete() bool {
	var n int64
	for _, l := range w.have {
		n += l
	}
	return n == w.p.Size
}

func (w *memWriter) Commit() error {
	if !w.complete() {
		return nil // a partial piece: nothing a whole-piece recorder keeps
	}
	return w.commit(w.p.Digest, w.buf)
}

func (w *memWriter) Abort() error { return nil }
