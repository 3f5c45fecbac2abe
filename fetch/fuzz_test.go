package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// FuzzNew checks the origin URL parser: New never panics, and an origin it
// accepts is an http or https URL with a host, no query or fragment and no
// trailing slash, under which every object's URL names the same server and
// makes a request that net/http can send.
func FuzzNew(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:8080", "http://127.0.0.1:8080/", "https://example.com/models/x",
		"http://example.com/models/x/", "", "example.com/models", "/models/x", "ftp://example.com/",
		"file:///srv/origin", "http://", "http:///path", "http://example.com/?q=1", "http://example.com/?",
		"http://example.com/#top", "http://exa mple.com/", "HTTP://EXAMPLE.COM/A", "http://user:pw@h/x",
		"http://[::1]:80/x", "http://[fe80::1%25eth0]/", "http://h:/", "http://h/a%2Fb/", "http://h/a%20b",
		"http://h/#", "http:h", "http://h:99999/", "http://h/\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		fe, err := New(origin, Options{})
		if err != nil {
			return
		}
		defer fe.Close()
		checkBase(t, origin, fe)
	})
}

func checkBase(t *testing.T, origin string, fe *Fetcher) {
	u, err := url.Parse(fe.sources[0].base)
	switch {
	case err != nil:
		t.Fatalf("New(%q) accepted; its base %q does not parse: %v", origin, fe.sources[0].base, err)
	case u.Scheme != "http" && u.Scheme != "https":
		t.Errorf("New(%q) accepted scheme %q", origin, u.Scheme)
	case u.Host == "":
		t.Errorf("New(%q) accepted a base without a host: %q", origin, fe.sources[0].base)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		t.Errorf("New(%q) accepted a base with a query or fragment: %q", origin, fe.sources[0].base)
	case strings.HasSuffix(fe.sources[0].base, "/"):
		t.Errorf("New(%q): base %q ends in a slash, so object URLs get an empty path segment", origin, fe.sources[0].base)
	}
	d := meta.Sum([]byte(origin))
	req, err := http.NewRequest(http.MethodGet, fe.sources[0].url(meta.PiecePath(d)), nil)
	if err != nil {
		t.Fatalf("New(%q) accepted; a piece URL under it does not parse: %v", origin, err)
	}
	// net/http drops an empty port ("h:"), which names the same server.
	if req.URL.Scheme != u.Scheme || req.URL.Hostname() != u.Hostname() || req.URL.Port() != u.Port() {
		t.Errorf("New(%q): piece URL %q names another server than base %q", origin, req.URL, fe.sources[0].base)
	}
	if want := "/" + meta.PiecePath(d); !strings.HasSuffix(req.URL.Path, want) {
		t.Errorf("New(%q): piece URL path %q does not end in %q", origin, req.URL.Path, want)
	}
	if err := req.Write(io.Discard); err != nil {
		t.Errorf("New(%q) accepted an origin whose requests net/http cannot send: %v", origin, err)
	}
}

// tagTransport answers every request with a 200 carrying body, in memory,
// and counts the requests.
type tagTransport struct {
	body []byte
	hits int
}

// RoundTrip implements http.RoundTripper.
func (tt *tagTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tt.hits++
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Length": {strconv.Itoa(len(tt.body))}},
		Body:          io.NopCloser(bytes.NewReader(tt.body)),
		ContentLength: int64(len(tt.body)),
		Request:       req,
	}, nil
}

// FuzzTag checks the tag parser on the fuzzed body of a 200 response: Tag
// never panics; it returns the digest exactly when the body is one digest
// with optional surrounding whitespace, within maxTagSize; a body that does
// not parse is a permanent error, asked for once; an oversized one fails
// with ErrLongBody.
//
// The response comes from an in-memory transport rather than a server:
// coverage through a real connection depends on net/http's goroutines and
// timing, and the fuzzer then spends its time minimizing noise.
func FuzzTag(f *testing.F) {
	d := meta.Sum([]byte("a manifest"))
	for _, s := range []string{
		d.String(), d.String() + "\n", " \t" + d.String() + "\r\n\n", d.Hex(), "hello", "",
		"sha256:", strings.ToUpper(d.String()), d.String() + "x", d.String() + "\n" + d.String(),
		"\u00a0" + d.String(), strings.Repeat(" ", maxTagSize-len(d.String())) + d.String(),
		strings.Repeat(" ", maxTagSize+1-len(d.String())) + d.String(), "\xff\xfe" + d.String(),
	} {
		f.Add([]byte(s))
	}
	tt := &tagTransport{}
	fe, err := New("http://origin.invalid/x", Options{
		Client: &http.Client{Transport: tt}, Attempts: 2, Backoff: time.Nanosecond, Timeout: 10 * time.Second,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { fe.Close() })
	// The fuzzing engine calls the function once at a time in each process,
	// so tt needs no lock.
	f.Fuzz(func(t *testing.T, body []byte) {
		tt.body, tt.hits = body, 0
		got, err := fe.Tag(context.Background(), "latest")
		checkTag(t, body, got, err, tt.hits)
	})
}

func checkTag(t *testing.T, body []byte, got meta.Digest, err error, hits int) {
	if len(body) > maxTagSize {
		if !errors.Is(err, ErrLongBody) {
			t.Errorf("Tag of a %d-byte body: got %s, %v; want ErrLongBody", len(body), got, err)
		}
		return
	}
	want, perr := meta.ParseDigest(strings.TrimSpace(string(body)))
	switch {
	case perr == nil && (err != nil || got != want):
		t.Errorf("Tag(%q): got %s, %v; want %s", body, got, err, want)
	case perr != nil && err == nil:
		t.Errorf("Tag(%q): got %s, want an error", body, got)
	case perr != nil && hits != 1:
		t.Errorf("Tag(%q) does not parse: requests got %d, want 1 (not worth a retry)", body, hits)
	}
}
