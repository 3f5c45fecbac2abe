package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

func TestTag(t *testing.T) {
	d := meta.Sum([]byte("a manifest"))
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		want     meta.Digest
		wantErr  bool
		wantHits int64
	}{
		{name: "digest and newline", handler: serve([]byte(d.String() + "\n")), want: d, wantHits: 1},
		{name: "surrounding whitespace", handler: serve([]byte(" \t" + d.String() + "\r\n\n")), want: d, wantHits: 1},
		{name: "500 then ok", handler: failFirst(1, status(500), serve([]byte(d.String()))), want: d, wantHits: 2},
		{name: "bare hex", handler: serve([]byte(d.Hex())), wantErr: true, wantHits: 1},
		{name: "garbage", handler: serve([]byte("hello")), wantErr: true, wantHits: 1},
		{name: "huge", handler: serve(make([]byte, 1<<20)), wantErr: true, wantHits: 3},
		{name: "404", handler: status(404), wantErr: true, wantHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, tt.handler)
			f := newFetcher(t, o.URL+"/prefix", Options{Attempts: 3})
			got, err := f.Tag(context.Background(), "v1.2_rc-3")
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Tag: got %s, %v; want %s, error %t", got, err, tt.want, tt.wantErr)
			}
			if want := "/prefix/tags/v1.2_rc-3"; o.lastPath() != want {
				t.Errorf("request path: got %q, want %q", o.lastPath(), want)
			}
			if hits := o.hits.Load(); hits != tt.wantHits {
				t.Errorf("requests at the origin: got %d, want %d", hits, tt.wantHits)
			}
		})
	}
}

func TestTagInvalidName(t *testing.T) {
	o := newOrigin(t, serve(nil))
	f := newFetcher(t, o.URL, Options{})
	for _, name := range []string{"", "../manifests/x", "a/b", ".hidden", "-x", "sp ace"} {
		if _, err := f.Tag(context.Background(), name); err == nil {
			t.Errorf("Tag(%q): got no error", name)
		}
	}
	if hits := o.hits.Load(); hits != 0 {
		t.Errorf("requests at the origin: got %d, want 0", hits)
	}
}

func TestManifest(t *testing.T) {
	body := []byte(`{"format":"piecefs-manifest"}`)
	d := meta.Sum(body)
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		wantErr  error // nil: want body
		wantHits int64
	}{
		{name: "ok", handler: serve(body), wantHits: 1},
		{name: "ok without Content-Length", handler: serveChunked(body), wantHits: 1},
		{name: "503 then ok", handler: failFirst(1, status(503), serve(body)), wantHits: 2},
		{name: "digest mismatch", handler: serve(corrupt(body)), wantErr: ErrCorrupt, wantHits: 3},
		{name: "404", handler: status(404), wantErr: errNotFound, wantHits: 1},
		{name: "truncated", handler: truncated(body, 5), wantErr: errAny, wantHits: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, tt.handler)
			f := newFetcher(t, o.URL, Options{Attempts: 3})
			got, err := f.Manifest(context.Background(), d)
			if want := "/" + meta.ManifestPath(d); o.lastPath() != want {
				t.Errorf("request path: got %q, want %q", o.lastPath(), want)
			}
			if hits := o.hits.Load(); hits != tt.wantHits {
				t.Errorf("requests at the origin: got %d, want %d", hits, tt.wantHits)
			}
			switch {
			case tt.wantErr == nil:
				if err != nil || string(got) != string(body) {
					t.Errorf("Manifest: got %q, %v; want %q", got, err, body)
				}
			case got != nil:
				t.Errorf("Manifest returned %d bytes with error %v; want none", len(got), err)
			case tt.wantErr == errAny:
				if err == nil {
					t.Error("Manifest: got no error")
				}
			case tt.wantErr == errNotFound:
				checkErr(t, err, nil, http.StatusNotFound)
			default:
				checkErr(t, err, tt.wantErr, 0)
			}
		})
	}
}

// errAny and errNotFound stand for "some error" and "a 404 StatusError" in
// a table of wanted errors.
var (
	errAny      = errors.New("any error")
	errNotFound = errors.New("404")
)

func TestReadLimited(t *testing.T) {
	body := []byte("0123456789")
	d := meta.Sum(body)
	tests := []struct {
		name    string
		limit   int64
		hint    int64
		wantErr error
	}{
		{name: "at the limit", limit: 10, hint: 10},
		{name: "no hint", limit: 10, hint: -1},
		{name: "over the limit", limit: 9, hint: -1, wantErr: ErrTooLarge},
		{name: "hint over the limit", limit: 9, hint: 10, wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readLimited(bytes.NewReader(body), tt.limit, tt.hint, d)
			if !errors.Is(err, tt.wantErr) || (err == nil && string(got) != string(body)) {
				t.Errorf("readLimited: got %q, %v; want %v", got, err, tt.wantErr)
			}
		})
	}
}

// TestManifestAllocatesAsBytesArrive has the origin announce a manifest of
// almost a gigabyte and send a few bytes of it: the fetch must hold memory
// for what arrived, not for what was announced.
func TestManifestAllocatesAsBytesArrive(t *testing.T) {
	const announced = 1000 << 20
	sent, release := make(chan struct{}), make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(announced))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"format":`))
		w.(http.Flusher).Flush()
		close(sent)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	f := newFetcher(t, o.URL, Options{Attempts: 1, Timeout: time.Minute, StallTimeout: time.Minute})
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.Manifest(ctx, meta.Sum([]byte("whatever")))
		done <- err
	}()
	<-sent
	time.Sleep(200 * time.Millisecond) // the client has the headers and the first bytes
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	cancel()
	close(release)
	if err := <-done; err == nil {
		t.Fatal("a manifest fetch cut short succeeded")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("the fetch allocated %d MiB for 10 bytes received of %d MiB announced", grew>>20, announced>>20)
	}
}

// TestGrow checks the manifest buffer's growth: in proportion to what has
// arrived, and exact for an honest announced size.
func TestGrow(t *testing.T) {
	const mib = 1 << 20
	for _, hint := range []int64{-1, 0, 10, minBuffer, 3 * mib, 153 * mib, 1000 * mib} {
		have := 0
		for steps := 0; have < 2000*mib && (hint <= 0 || int64(have) <= hint); steps++ {
			next := grow(have, hint)
			if next <= have {
				t.Fatalf("hint %d: grow(%d) = %d, not larger", hint, have, next)
			}
			if next > 4*max(have, minBuffer)+1 {
				t.Fatalf("hint %d: grow(%d) = %d, more than four times what arrived", hint, have, next)
			}
			if hint > 0 && int64(next) > hint+1 {
				t.Fatalf("hint %d: grow(%d) = %d, past the announced size", hint, have, next)
			}
			if hint > 0 && int64(next) == hint+1 {
				break
			}
			have = next
		}
	}
}

// TestCacheHeaders: a tag is asked for with Cache-Control: no-cache, so that
// a shared cache revalidates it; a piece, a manifest and a block range are
// asked for without, at URLs with no query string, so that caches keep and
// serve them.
func TestCacheHeaders(t *testing.T) {
	data := testData(10_000)
	p := pieceOf(data)
	m := []byte(`{"a":"manifest"}`)
	md := meta.Sum(m)
	got := make(chan *http.Request, 8)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r
		switch r.URL.Path {
		case "/" + meta.TagPath("latest"):
			w.Write([]byte(md.String()))
		case "/" + meta.ManifestPath(md):
			w.Write(m)
		default:
			serve(data)(w, r)
		}
	})
	f := newFetcher(t, o.URL, Options{})
	ctx := context.Background()
	if _, err := f.Tag(ctx, "latest"); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("tag request: Cache-Control %q, want no-cache", r.Header.Get("Cache-Control"))
	}
	if _, err := f.Manifest(ctx, md); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Piece(ctx, p); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := <-got
		if cc := r.Header.Get("Cache-Control"); cc != "" || r.URL.RawQuery != "" {
			t.Errorf("%s: Cache-Control %q, query %q; want neither", r.URL.Path, cc, r.URL.RawQuery)
		}
	}
}
