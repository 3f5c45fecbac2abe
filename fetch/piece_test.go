package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/piecefs/piecefs/meta"
)

func TestPieceResponses(t *testing.T) {
	data := testData(10000)
	p := pieceOf(data)
	const attempts = 3
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		wantErr  error // nil: want data
		wantCode int   // want a *StatusError with this code
		wantHits int64
	}{
		{name: "ok", handler: serve(data), wantHits: 1},
		{name: "ok without Content-Length", handler: serveChunked(data), wantHits: 1},
		{name: "500 then ok", handler: failFirst(1, status(500), serve(data)), wantHits: 2},
		{name: "503 twice then ok", handler: failFirst(2, status(503), serve(data)), wantHits: 3},
		{name: "429 then ok", handler: failFirst(1, status(429), serve(data)), wantHits: 2},
		{name: "always 500", handler: status(500), wantCode: 500, wantHits: attempts},
		{name: "404 is not retried", handler: status(404), wantCode: 404, wantHits: 1},
		{name: "403 is not retried", handler: status(403), wantCode: 403, wantHits: 1},
		{name: "400 is not retried", handler: status(400), wantCode: 400, wantHits: 1},
		{name: "206 without a Range", handler: status(206), wantCode: 206, wantHits: 1},
		{name: "wrong bytes", handler: serve(corrupt(data)), wantErr: ErrCorrupt, wantHits: attempts},
		{name: "wrong bytes then ok", handler: failFirst(1, serve(corrupt(data)), serve(data)), wantHits: 2},
		{name: "short body", handler: serveChunked(data[:len(data)-1]), wantErr: ErrShortBody, wantHits: attempts},
		{name: "truncated body", handler: truncated(data, len(data)/2), wantErr: ErrShortBody, wantHits: attempts},
		{name: "empty body", handler: serveChunked(nil), wantErr: ErrShortBody, wantHits: attempts},
		{name: "long body", handler: serveChunked(append(bytes.Clone(data), 'x')), wantErr: ErrLongBody, wantHits: attempts},
		{name: "Content-Length too big", handler: serve(append(bytes.Clone(data), 'x')), wantErr: ErrLength, wantHits: attempts},
		{name: "Content-Length too small", handler: serve(data[:100]), wantErr: ErrLength, wantHits: attempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, tt.handler)
			f := newFetcher(t, o.URL, Options{Attempts: attempts})
			got, err := f.Piece(context.Background(), p)
			if hits := o.hits.Load(); hits != tt.wantHits {
				t.Errorf("requests at the origin: got %d, want %d", hits, tt.wantHits)
			}
			if tt.wantErr == nil && tt.wantCode == 0 {
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("Piece: got %d bytes, err %v; want the %d bytes", len(got), err, len(data))
				}
				return
			}
			if got != nil {
				t.Errorf("Piece returned %d bytes along with error %v; want none", len(got), err)
			}
			checkErr(t, err, tt.wantErr, tt.wantCode)
		})
	}
}

func checkErr(t *testing.T, err, want error, code int) {
	t.Helper()
	if want != nil && !errors.Is(err, want) {
		t.Errorf("error: got %v, want %v", err, want)
	}
	var se *StatusError
	if code != 0 && (!errors.As(err, &se) || se.Code != code) {
		t.Errorf("error: got %v, want status %d", err, code)
	}
}

// truncated promises all of data in Content-Length but sends only n bytes
// before the connection drops.
func truncated(data []byte, n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:n])
		panic(http.ErrAbortHandler)
	}
}

func TestPieceNamesThePiece(t *testing.T) {
	data := testData(100)
	p := pieceOf(data)
	o := newOrigin(t, status(404))
	f := newFetcher(t, o.URL, Options{})
	_, err := f.Piece(context.Background(), p)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(p.Digest.String())) {
		t.Errorf("error %q does not name piece %s", err, p.Digest)
	}
}

func TestPieceRequestPath(t *testing.T) {
	data := testData(100)
	p := pieceOf(data)
	o := newOrigin(t, serve(data))
	for _, base := range []string{o.URL + "/models/x", o.URL + "/models/x/"} {
		f := newFetcher(t, base, Options{})
		if _, err := f.Piece(context.Background(), p); err != nil {
			t.Fatalf("Piece via %s: %v", base, err)
		}
		if want := "/models/x/" + meta.PiecePath(p.Digest); o.lastPath() != want {
			t.Errorf("base %s: request path got %q, want %q", base, o.lastPath(), want)
		}
	}
}

func TestPieceSizeOutOfRange(t *testing.T) {
	o := newOrigin(t, serve(nil))
	f := newFetcher(t, o.URL, Options{})
	for _, size := range []int64{-1, meta.MaxPieceSize + 1} {
		if _, err := f.Piece(context.Background(), meta.Piece{Size: size}); err == nil {
			t.Errorf("Piece of size %d: got no error", size)
		}
	}
	if hits := o.hits.Load(); hits != 0 {
		t.Errorf("requests at the origin: got %d, want 0", hits)
	}
}

func TestPieceEmpty(t *testing.T) {
	p := pieceOf(nil)
	o := newOrigin(t, serve(nil))
	f := newFetcher(t, o.URL, Options{})
	got, err := f.Piece(context.Background(), p)
	if err != nil || len(got) != 0 {
		t.Errorf("Piece of the empty piece: got %d bytes, %v; want 0 bytes, nil", len(got), err)
	}
}

func TestPieceSink(t *testing.T) {
	data := testData(5000)
	p := pieceOf(data)
	t.Run("receives verified bytes", func(t *testing.T) {
		sink := &recordingSink{}
		o := newOrigin(t, serve(data))
		f := newFetcher(t, o.URL, Options{Sink: sink})
		if _, err := f.Piece(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		f.Close() // persisting may go on after Piece returns; Close waits for it
		if got := sink.got[p.Digest]; !bytes.Equal(got, data) {
			t.Errorf("sink got %d bytes, want the %d verified bytes", len(got), len(data))
		}
	})
	t.Run("never receives corrupt bytes", func(t *testing.T) {
		sink := &recordingSink{}
		o := newOrigin(t, serve(corrupt(data)))
		f := newFetcher(t, o.URL, Options{Sink: sink, Attempts: 2})
		if _, err := f.Piece(context.Background(), p); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Piece: got %v, want ErrCorrupt", err)
		}
		if len(sink.got) != 0 {
			t.Errorf("sink got %d pieces, want none", len(sink.got))
		}
	})
}

func TestPieceFailingSink(t *testing.T) {
	data := testData(5000)
	p := pieceOf(data)
	log, hook := logtest.NewNullLogger()
	sink := &recordingSink{err: errors.New("disk full")}
	o := newOrigin(t, serve(data))
	f := newFetcher(t, o.URL, Options{Sink: sink, Log: log})
	got, err := f.Piece(context.Background(), p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Piece with a failing sink: got %d bytes, %v; want the bytes", len(got), err)
	}
	f.Close() // waits for the background write and its log line
	e := hook.LastEntry()
	if e == nil || e.Level != logrus.WarnLevel || e.Data["piece"] != p.Digest.String() {
		t.Errorf("log: got %v, want a warning with field piece=%s", e, p.Digest)
	}
}

// gatedSink blocks every Put until release is closed.
type gatedSink struct {
	recordingSink
	release chan struct{}
}

func (s *gatedSink) Create(p meta.Piece) (Writer, error) { return newMemWriter(p, s.Put), nil }

func (s *gatedSink) Put(d meta.Digest, data []byte) error {
	<-s.release
	return s.recordingSink.Put(d, data)
}

// TestPiecePersistingInBackground: a piece is served while its durable
// write is still running, a second read of it neither waits for the write
// nor fetches it again, and Close lets the write finish.
func TestPiecePersistingInBackground(t *testing.T) {
	data := testData(5000)
	p := pieceOf(data)
	sink := &gatedSink{release: make(chan struct{})}
	o := newOrigin(t, serve(data))
	f := newFetcher(t, o.URL, Options{Sink: sink})
	for i := 0; i < 3; i++ {
		got, err := f.Piece(context.Background(), p)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Piece %d while persisting: %d bytes, %v", i, len(got), err)
		}
	}
	if n := o.hits.Load(); n != 1 {
		t.Errorf("origin saw %d requests, want 1", n)
	}
	closed := make(chan struct{})
	go func() { f.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned before the write it must wait for")
	case <-time.After(50 * time.Millisecond):
	}
	close(sink.release)
	<-closed
	if got := sink.got[p.Digest]; !bytes.Equal(got, data) {
		t.Errorf("sink got %d bytes, want %d", len(got), len(data))
	}
}
