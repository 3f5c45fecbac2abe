package fetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sync/singleflight"
)

// Options configure a Fetcher. The zero value is usable.
type Options struct {
	// Client sends the requests to the origin New was given; nil means a
	// pooled keep-alive client that honours HTTP_PROXY, HTTPS_PROXY and
	// NO_PROXY (see NewClient).
	Client *http.Client
	// Name names the origin New was given in logs, errors, Stats and
	// metrics, as Origin.Name does a mirror.
	Name string
	// Mirrors are further places holding the same publication, tried after
	// the origin in the order given when it fails (see the package doc's
	// "Origins and mirrors"). Everything fetched from a mirror is verified
	// exactly as from the origin, so a mirror needs no trust.
	Mirrors []Origin
	// Attempts is the number of tries per fetch, the first included;
	// 0 means 4.
	Attempts int
	// Timeout bounds one fetch including all of its retries; 0 means 30s.
	Timeout time.Duration
	// Backoff is the delay before the first retry, doubled for each further
	// one and jittered; 0 means 100ms.
	Backoff time.Duration
	// StallTimeout fails an attempt that receives nothing (no headers, no
	// body bytes) for this long, so that it is retried on a new connection
	// instead of waiting out Timeout; 0 means Timeout/Attempts, at least
	// 100ms.
	StallTimeout time.Duration
	// Sink receives every verified piece and block; nil persists nothing.
	Sink Sink
	// Log receives retries and Sink failures; nil discards.
	Log logrus.FieldLogger
	// Observe, if set, is called once per fetch when it ends, with what it
	// fetched ("piece", "range", "table", "manifest" or "tag"), how long it
	// took, retries and their waits included, and its error (nil if it
	// succeeded). It is called from the fetches' goroutines, concurrently,
	// and must be quick: a latency histogram, say.
	Observe func(kind string, d time.Duration, err error)
}

// Origin is one place a publication can be read from: an http or https base
// URL (which may carry a path prefix) and the client that reaches it. A nil
// Client means Options.Client, or NewClient's when that is nil too; an
// origin that needs signed requests (a private object store) brings a client
// whose transport signs them.
type Origin struct {
	URL    string
	Client *http.Client
	// Name is how logs, errors, Stats and metrics name the origin; "" means
	// URL, any password redacted. An s3:// origin is named by its s3:// URL
	// rather than by the endpoint it is reached at.
	Name string
}

// Fetcher fetches verified pieces, manifests and tags from one origin. It is
// safe for concurrent use.
type Fetcher struct {
	sources []*source // the origin, then the mirrors
	opts    Options
	log     logrus.FieldLogger
	flights singleflight.Group
	pending *persisting // verified pieces on their way to the Sink
	tables  *tables     // verified block tables
	ranges  *ranges     // block ranges being fetched or persisted
	stats   counters    // see Stats

	life   context.Context // ends at Close; every fetch runs under it
	cancel context.CancelFunc

	mu     sync.Mutex     // guards closed and the increments of wg
	closed bool           // set by Close; no fetch starts afterwards
	wg     sync.WaitGroup // one count per fetch running; Close waits for zero

	onJoin func() // test hook: called once a Piece caller has joined a flight
}

// New returns a Fetcher for the origin at base URL origin, an http or https
// URL that may carry a path prefix (http://host:8080/models/x).
func New(origin string, opts Options) (*Fetcher, error) {
	sources, err := newSources(origin, opts)
	if err != nil {
		return nil, err
	}
	f := &Fetcher{sources: sources, opts: withDefaults(opts, len(sources)), log: opts.Log, pending: newPersisting(), tables: newTables(), ranges: newRanges()}
	if f.log == nil {
		f.log = discard()
	}
	f.life, f.cancel = context.WithCancel(context.Background())
	return f, nil
}

func parseOrigin(origin string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", origin, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("origin %q: want an http:// or https:// URL", origin)
	case u.Host == "":
		return "", fmt.Errorf("origin %q: no host", origin)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("origin %q: a base URL cannot have a query or a fragment", origin)
	}
	// Every slash is trimmed, not just one: the layout's paths are joined
	// on with one, and an empty segment ("//pieces") is another path.
	base := strings.TrimRight(u.String(), "/")
	// url.Parse accepts a few hosts (IPv6 zones) that String does not write
	// back in a form it parses again; every request would fail.
	if _, err := url.Parse(base); err != nil {
		return "", fmt.Errorf("origin %q: %w", origin, err)
	}
	return base, nil
}

func withDefaults(o Options, sources int) Options {
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = max(o.Timeout/time.Duration(o.Attempts+sources-1), 100*time.Millisecond)
	}
	return o
}

func discard() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.PanicLevel) // skip formatting entries nobody reads
	return l
}

// Close cancels every fetch in flight, waits for them to return and releases
// the default client's idle connections. Later calls return nil.
func (f *Fetcher) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
	for _, s := range f.sources {
		if s.own {
			s.client.CloseIdleConnections()
		}
	}
	return nil
}

// begin registers a fetch with Close, or reports that Close has begun.
// Every successful begin must be matched by f.wg.Done.
func (f *Fetcher) begin() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	f.wg.Add(1)
	return nil
}

// closing reports whether Close has begun.
func (f *Fetcher) closing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// scope bounds a fetch: it ends at ctx's end, after Timeout, or at Close.
func (f *Fetcher) scope(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	stop := context.AfterFunc(f.life, cancel)
	return ctx, func() { stop(); cancel() }
}
