package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

func TestNewOrigin(t *testing.T) {
	tests := []struct {
		origin  string
		want    string // the base requests are made under; "" means New fails
		wantErr bool
	}{
		{origin: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{origin: "http://127.0.0.1:8080/", want: "http://127.0.0.1:8080"},
		{origin: "https://example.com/models/x", want: "https://example.com/models/x"},
		{origin: "http://example.com/models/x/", want: "http://example.com/models/x"},
		{origin: "", wantErr: true},
		{origin: "example.com/models", wantErr: true},
		{origin: "/models/x", wantErr: true},
		{origin: "ftp://example.com/", wantErr: true},
		{origin: "file:///srv/origin", wantErr: true},
		{origin: "http://", wantErr: true},
		{origin: "http:///path", wantErr: true},
		{origin: "http://example.com/?q=1", wantErr: true},
		{origin: "http://example.com/?", wantErr: true},
		{origin: "http://example.com/#top", wantErr: true},
		{origin: "http://exa mple.com/", wantErr: true},
	}
	for _, tt := range tests {
		f, err := New(tt.origin, Options{})
		if tt.wantErr {
			if err == nil {
				t.Errorf("New(%q): got base %q, want an error", tt.origin, f.sources[0].base)
			}
			continue
		}
		if err != nil || f.sources[0].base != tt.want {
			t.Errorf("New(%q): got %v; want base %q", tt.origin, err, tt.want)
			continue
		}
		f.Close()
	}
}

func TestRedirects(t *testing.T) {
	data := testData(100)
	p := pieceOf(data)
	t.Run("followed", func(t *testing.T) {
		target := newOrigin(t, serve(data))
		o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+r.URL.Path, http.StatusFound)
		})
		f := newFetcher(t, o.URL, Options{})
		if got, err := f.Piece(context.Background(), p); err != nil || !bytes.Equal(got, data) {
			t.Errorf("Piece through a redirect: got %d bytes, %v", len(got), err)
		}
	})
	t.Run("loop ends in an error", func(t *testing.T) {
		o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		})
		f := newFetcher(t, o.URL, Options{Attempts: 3})
		_, err := f.Piece(context.Background(), p)
		if !errors.Is(err, ErrTooManyRedirects) {
			t.Errorf("Piece through a redirect loop: got %v, want ErrTooManyRedirects", err)
		}
		// 10 redirects followed, in one attempt: a loop is not retried.
		if hits := o.hits.Load(); hits != 10 {
			t.Errorf("requests at the origin: got %d, want 10", hits)
		}
	})
}

// proxyServer answers proxied requests for pieces of data, whatever the
// host, and counts them.
func proxyServer(t *testing.T, data []byte, wantURL string) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.String() != wantURL {
			http.Error(w, "unexpected URL "+r.URL.String(), http.StatusBadGateway)
			return
		}
		serve(data)(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// proxiedOrigin is a host that does not resolve: only a proxy can reach it.
const proxiedOrigin = "http://origin.piecefs.invalid/models/x"

func proxiedPiece() (meta.Piece, []byte, string) {
	data := testData(3000)
	p := pieceOf(data)
	return p, data, proxiedOrigin + "/" + meta.PiecePath(p.Digest)
}

func TestProxyFromOptionsClient(t *testing.T) {
	p, data, want := proxiedPiece()
	proxy, hits := proxyServer(t, data, want)
	proxyURL, _ := url.Parse(proxy.URL)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	f := newFetcher(t, proxiedOrigin, Options{Client: client, Attempts: 1})
	if got, err := f.Piece(context.Background(), p); err != nil || !bytes.Equal(got, data) {
		t.Errorf("Piece through the proxy: got %d bytes, %v", len(got), err)
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("requests at the proxy: got %d, want 1", got)
	}
}

// proxyChildEnv marks the test binary run by TestProxyFromEnvironment.
const proxyChildEnv = "PIECEFS_FETCH_PROXY_CHILD"

// TestProxyFromEnvironment checks that the default client sends requests
// through the proxy named in HTTP_PROXY. net/http reads the proxy
// variables once per process, so the fetch runs in a fresh copy of the test
// binary whose environment names the proxy.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv(proxyChildEnv) != "" {
		proxyChild(t)
		return
	}
	_, data, want := proxiedPiece()
	proxy, hits := proxyServer(t, data, want)
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), proxyChildEnv+"=1",
		"HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=", "REQUEST_METHOD=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "proxied fetch ok") {
		t.Fatalf("child test: %v\n%s", err, out)
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("requests at the proxy: got %d, want 1", got)
	}
}

func proxyChild(t *testing.T) {
	p, data, _ := proxiedPiece()
	f := newFetcher(t, proxiedOrigin, Options{Attempts: 1})
	got, err := f.Piece(context.Background(), p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Piece through HTTP_PROXY: got %d bytes, %v", len(got), err)
	}
	t.Log("proxied fetch ok")
}

func TestRetryable(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	netErr := &url.Error{Op: "Get", URL: "http://x", Err: syscall.ECONNREFUSED}
	tests := []struct {
		err  error
		want bool
	}{
		{&StatusError{Code: 500}, true},
		{&StatusError{Code: 502}, true},
		{wrap(&StatusError{Code: 503}), true},
		{&StatusError{Code: 429}, true},
		{&StatusError{Code: 408}, true},
		{&StatusError{Code: 404}, false},
		{&StatusError{Code: 403}, false},
		{&StatusError{Code: 400}, false},
		{&StatusError{Code: 206}, false},
		{wrap(ErrCorrupt), true},
		{wrap(ErrShortBody), true},
		{wrap(ErrLongBody), true},
		{wrap(ErrLength), true},
		{netErr, true},
		{wrap(&url.Error{Op: "Get", URL: "http://x", Err: ErrTooManyRedirects}), false},
		{wrap(ErrTooLarge), false},
		{ErrClosed, false},
		{&permanentError{errors.New("bad tag")}, false},
		{wrap(context.Canceled), false},
		{&url.Error{Op: "Get", URL: "http://x", Err: context.DeadlineExceeded}, false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v): got %t, want %t", tt.err, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	const base = 100 * time.Millisecond
	for attempt, full := range []time.Duration{base, 2 * base, 4 * base, 8 * base} {
		for range 50 {
			if d := backoff(base, attempt+1); d < full/2 || d > full {
				t.Fatalf("backoff(%v, %d): got %v, want within [%v, %v]", base, attempt+1, d, full/2, full)
			}
		}
	}
	if d := backoff(time.Second, 1000); d > 2*time.Minute {
		t.Errorf("backoff after many attempts: got %v, want at most 2m", d)
	}
}

func TestNewClient(t *testing.T) {
	tr, ok := NewClient().Transport.(*http.Transport)
	if !ok || tr.Proxy == nil {
		t.Fatalf("NewClient transport: got %#v, want an *http.Transport with a Proxy function", NewClient().Transport)
	}
	if tr.MaxIdleConnsPerHost < 8 || tr.ResponseHeaderTimeout <= 0 {
		t.Errorf("NewClient transport: MaxIdleConnsPerHost %d, ResponseHeaderTimeout %v", tr.MaxIdleConnsPerHost, tr.ResponseHeaderTimeout)
	}
}

func TestStatusErrorRedactsPassword(t *testing.T) {
	o := newOrigin(t, status(404))
	u, _ := url.Parse(o.URL)
	u.User = url.UserPassword("user", "hunter2")
	f := newFetcher(t, u.String(), Options{})
	_, err := f.Piece(context.Background(), pieceOf(testData(10)))
	var se *StatusError
	if !errors.As(err, &se) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Piece from an origin with a password: got %v, want a 404 without the password", err)
	}
}
