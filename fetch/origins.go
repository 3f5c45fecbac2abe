package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// The backoff of an origin that keeps failing: after its first failure in
// a row it is passed over for firstBench, then twice as long after each
// further one, up to maxBench. A bench ends on its own: the next fetch that
// needs the origin tries it again, and one success clears it.
const (
	firstBench = time.Second
	maxBench   = 5 * time.Minute
)

// source is one origin or mirror, with what the fetches have learnt about
// its health and what they have counted of it.
type source struct {
	name   string // the URL, any password redacted: for logs, errors and metrics
	base   string // URL without a trailing slash
	client *http.Client
	own    bool // client was made by New, so Close may close its idle connections

	mu    sync.Mutex // guards fails and until
	fails int        // failures in a row
	until time.Time  // passed over before this while another origin is usable

	requests, bytes, failures atomic.Int64
}

func (s *source) url(rel string) string { return s.base + "/" + rel }

// newSources makes the fetcher's sources: the origin first, then the
// mirrors, in the order given.
func newSources(origin string, opts Options) ([]*source, error) {
	client := opts.Client
	all := append([]Origin{{URL: origin, Client: client, Name: opts.Name}}, opts.Mirrors...)
	var shared *http.Client // NewClient's, for every source without one
	out := make([]*source, 0, len(all))
	seen := make(map[string]bool, len(all))
	for i, o := range all {
		base, err := parseOrigin(o.URL)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("mirror: %w", err)
			}
			return nil, err
		}
		if seen[base] {
			return nil, fmt.Errorf("origin %s is given twice", redact(base))
		}
		seen[base] = true
		s := &source{name: redact(base), base: base, client: o.Client}
		if o.Name != "" {
			s.name = redact(o.Name)
		}
		if s.client == nil {
			s.client = client
		}
		if s.client == nil {
			if shared == nil {
				shared = NewClient()
				s.own = true // the first holder closes the shared pool
			}
			s.client = shared
		}
		out = append(out, s)
	}
	return out, nil
}

// redact hides a password in a URL that has one.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

// usable reports whether s is not benched at now.
func (s *source) usable(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !now.Before(s.until)
}

// benchedUntil is when s may be tried again.
func (s *source) benchedUntil() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.until
}

// succeeded clears s's failures, and reports whether it had any.
func (s *source) succeeded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	had := s.fails > 0
	s.fails, s.until = 0, time.Time{}
	return had
}

// failed benches s for longer the more it has failed in a row, and returns
// for how long and whether this is its first failure in a row.
func (s *source) failed(now time.Time) (time.Duration, bool) {
	s.failures.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails++
	d := firstBench
	for i := 1; i < s.fails && d < maxBench; i++ {
		d *= 2
	}
	d = min(d, maxBench)
	s.until = now.Add(d)
	return d, s.fails == 1
}

// pick chooses the source for the next attempt of one fetch: the first, in
// the order given, that this fetch has not given up on (skip) and that is
// not benched; when every one left is benched, the one whose bench ends
// first, so that a fetch always has somewhere to go while any source is
// left. It returns nil when the fetch has given up on all of them.
func pick(sources []*source, skip []bool, now time.Time) *source {
	var soonest *source
	var soonestAt time.Time
	for i, s := range sources {
		if skip[i] {
			continue
		}
		if s.usable(now) {
			return s
		}
		if at := s.benchedUntil(); soonest == nil || at.Before(soonestAt) {
			soonest, soonestAt = s, at
		}
	}
	return soonest
}

// blames reports whether a failed attempt says something about the source
// that answered it, as opposed to the fetch: its caller gave up, or the
// fetcher is closing. A fetch that ran out of time at a source blames it.
func blames(ctx context.Context, err error) bool {
	if errors.Is(err, ErrClosed) || errors.Is(ctx.Err(), context.Canceled) {
		return false
	}
	return true
}

// benched logs that s failed and is passed over for d: once when it starts
// failing, not on every fetch that meets it, which the debug log tells.
func (f *Fetcher) benched(s *source, d time.Duration, err error) {
	f.log.WithFields(logrus.Fields{"origin": s.name, "retry_in": d}).WithError(err).Warn("fetch: origin failed; the others are tried first")
}
