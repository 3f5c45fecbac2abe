package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// requireSquid skips a test that needs squid when it is missing, and
// fails it with CI=true.
func requireSquid(t *testing.T) {
	t.Helper()
	if _, err := SquidPath(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (required with CI=true)", err)
		}
		t.Skip(err)
	}
}

// squidDir returns a directory that squid, dropping to its own user when
// run as root, can reach: t.TempDir's parents are private.
func squidDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "piecefs-squid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// countingOrigin serves one immutable piece and one tag, with ranges, and
// counts the requests and body bytes each path got.
type countingOrigin struct {
	piece    []byte
	requests sync.Map // path -> *atomic.Int64
	sent     atomic.Int64
}

const testPiece = "/pieces/ab/ab0123456789"

func (o *countingOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := o.requests.LoadOrStore(r.URL.Path, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	var body []byte
	switch r.URL.Path {
	case testPiece:
		body = o.piece
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	case "/tags/latest":
		body = []byte("sha256:x\n")
		w.Header().Set("Cache-Control", "no-cache")
	default:
		http.NotFound(w, r)
		return
	}
	cw := &countingWriter{ResponseWriter: w, n: &o.sent}
	http.ServeContent(cw, r, "", time.Unix(1e9, 0), bytes.NewReader(body))
}

func (o *countingOrigin) count(path string) int64 {
	n, ok := o.requests.Load(path)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}

// TestSquidCollapsesRanges checks the settings the configuration is for:
// eight concurrent cold Range requests for one piece cost the origin one
// whole download, later ranges of it are hits, and a tag is asked for
// again every time.
func TestSquidCollapsesRanges(t *testing.T) {
	requireSquid(t)
	origin := &countingOrigin{piece: bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)}
	srv := httptest.NewServer(origin)
	defer srv.Close()
	s, err := StartSquid(timeout(t, time.Minute), SquidOptions{Dir: squidDir(t), CacheSize: 64 << 20, MemSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop squid: %v", err)
		}
		if t.Failed() || testing.Verbose() {
			b, _ := os.ReadFile(s.AccessLogPath())
			t.Logf("access.log:\n%s", b)
		}
	}()
	proxy, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	ranged := func(round, i int) error {
		off := int64(i) << 19
		return getRange(client, srv.URL+testPiece, off, 1<<16, origin.piece[off:off+1<<16])
	}
	for round := range 2 {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = ranged(round, i) }()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, range %d: %v", round, i, err)
			}
		}
	}
	if got := origin.count(testPiece); got != 1 {
		t.Errorf("the origin got %d requests for the piece, want 1", got)
	}
	if got, want := origin.sent.Load(), int64(len(origin.piece)); got > want+want/10 {
		t.Errorf("the origin sent %d bytes, want at most %d", got, want+want/10)
	}
	for range 2 {
		if err := getRange(client, srv.URL+"/tags/latest", 0, 0, []byte("sha256:x\n")); err != nil {
			t.Error(err)
		}
	}
	if got := origin.count("/tags/latest"); got != 2 {
		t.Errorf("the origin got %d requests for the tag, want 2 (it must not be served from cache)", got)
	}
}

// getRange GETs n bytes at off of u (the whole object when n is 0) and
// compares them with want.
func getRange(client *http.Client, u string, off, n int64, want []byte) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if n > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	wantCode := http.StatusOK
	if n > 0 {
		wantCode = http.StatusPartialContent
	}
	if resp.StatusCode != wantCode || !bytes.Equal(got, want) {
		return fmt.Errorf("GET %s bytes %d+%d: %s, %d bytes (%q...), want %d and the right %d bytes", u, off, n, resp.Status, len(got), strings.TrimSpace(string(got[:min(len(got), 16)])), wantCode, len(want))
	}
	return nil
}
