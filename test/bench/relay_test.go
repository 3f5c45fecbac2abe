package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// origin200 serves body at every path with ranges, as nginx does.
func origin200(t *testing.T, body []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRelayCounts sends requests through a relay on one keep-alive
// connection: the count is what the origin sent, bodies and headers, and
// settle returns it once the origin is quiet.
func TestRelayCounts(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 10000)
	srv := origin200(t, body)
	r, err := startRelay(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	c := keepAlive(1)
	defer c.CloseIdleConnections()
	var headers int64
	for range 3 {
		resp, err := c.Get(r.url + "/f")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("GET through the relay: %d bytes, %v; want the body", len(got), err)
		}
		var h bytes.Buffer
		_ = resp.Header.Write(&h)
		headers += int64(h.Len())
	}
	n, err := r.settle(context.Background(), 50*time.Millisecond, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The status lines and header order are the server's; bound them.
	if lo, hi := 3*int64(len(body))+headers, 3*int64(len(body))+headers+3*64; n < lo || n > hi {
		t.Errorf("relay counted %d bytes, want %d–%d (3 bodies of %d and their headers)", n, lo, hi, len(body))
	}
}

// TestRelaySettleLimit: settle gives up, with an error, on an origin that
// never stops sending.
func TestRelaySettleLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for r.Context().Err() == nil {
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	}))
	defer srv.Close()
	r, err := startRelay(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(r.url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go func() { _, _ = io.Copy(io.Discard, resp.Body) }()
	if _, err := r.settle(context.Background(), 100*time.Millisecond, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "still sending") {
		t.Errorf("settle on a trickling origin: %v, want an error", err)
	}
	r.close() // must end the open connection and return
}

func TestBigPieces(t *testing.T) {
	p := bigPieces{urls: []string{"a", "b", "c"}, size: 100, file: 250}
	if err := p.check(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		off  int64
		url  string
		inAt int64
	}{{0, "a", 0}, {99, "a", 99}, {100, "b", 0}, {249, "c", 49}} {
		if u, at := p.locate(tt.off); u != tt.url || at != tt.inAt {
			t.Errorf("locate(%d) = %s, %d; want %s, %d", tt.off, u, at, tt.url, tt.inAt)
		}
	}
	for _, bad := range []bigPieces{{urls: []string{"a", "b"}, size: 100, file: 250}, {urls: []string{"a", "b", "c", "d"}, size: 100, file: 300}} {
		if err := bad.check(); err == nil {
			t.Errorf("check(%+v) passed, want an error", bad)
		}
	}
}

// TestRangeGET gets ranges across pieces from an origin that serves
// ranges, and fails on one that ignores them.
func TestRangeGET(t *testing.T) {
	srv := origin200(t, bytes.Repeat([]byte("y"), 100))
	p := bigPieces{urls: []string{srv.URL + "/0", srv.URL + "/1"}, size: 100, file: 200}
	c := keepAlive(2)
	defer c.CloseIdleConnections()
	for _, off := range []int64{0, 99, 150} {
		if err := rangeGET(context.Background(), c, p, off, 1); err != nil {
			t.Errorf("rangeGET at %d: %v", off, err)
		}
	}
	if err := rangeGET(context.Background(), c, p, 100, 4); err != nil {
		t.Errorf("rangeGET of 4 bytes: %v", err)
	}
	whole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 100)) // 200 OK, the whole piece
	}))
	defer whole.Close()
	if err := rangeGET(context.Background(), c, bigPieces{urls: []string{whole.URL}, size: 100, file: 100}, 0, 1); err == nil {
		t.Error("rangeGET from an origin ignoring Range succeeded, want an error")
	}
}

func TestOneByteOffset(t *testing.T) {
	for _, size := range []int64{1, 4096, 16 << 20, 2 << 30} {
		off := oneByteOffset(size)
		if off < 0 || off >= size {
			t.Errorf("oneByteOffset(%d) = %d, outside the file", size, off)
		}
		if size >= 1<<20 && off%4096 == 0 {
			t.Errorf("oneByteOffset(%d) = %d, on a page boundary", size, off)
		}
	}
}

func TestMissingPeers(t *testing.T) {
	got := tools{nginx: "/n", fio: "/f"}.missingPeers()
	if strings.Join(got, ",") != "rclone,httpfs2" {
		t.Errorf("missingPeers = %q, want rclone and httpfs2", got)
	}
}
