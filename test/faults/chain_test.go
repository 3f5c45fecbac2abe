package faults

import (
	"context"
	"testing"
	"time"

	"github.com/piecefs/piecefs/cache"
	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/piece"
	"github.com/piecefs/piecefs/store"
)

// chain is the read path wired as cmd/piecefs wires it.
type chain struct {
	st *store.Store
	f  *fetch.Fetcher
	r  *piece.Reader
}

// chainOptions are the knobs the tests turn; everything else is as the CLI
// leaves it, except a short Backoff, so that a fault that fails every
// attempt costs milliseconds, not the better part of a second.
type chainOptions struct {
	timeout time.Duration // fetch.Options.Timeout
	memory  int64         // memory tier bytes; 0 turns it off, as --memory-cache=0 does
}

// openChain opens a store on cacheDir and wires the tiers over m against
// the origin at url. The test's end closes whatever is still open.
func openChain(t *testing.T, cacheDir, url string, m *meta.Manifest, o chainOptions) *chain {
	t.Helper()
	st, err := store.Open(cacheDir, store.Options{})
	if err != nil {
		t.Fatalf("store.Open(%s): %v", cacheDir, err)
	}
	return wireChain(t, st, url, m, o)
}

// wireChain wires the tiers over an open store, which the chain then owns.
func wireChain(t *testing.T, st *store.Store, url string, m *meta.Manifest, o chainOptions) *chain {
	t.Helper()
	f, err := fetch.New(url, fetch.Options{Sink: fetch.Adapt(st), Timeout: o.timeout, Attempts: 4, Backoff: 10 * time.Millisecond})
	if err != nil {
		st.Close()
		t.Fatalf("fetch.New(%q): %v", url, err)
	}
	c := &chain{st: st, f: f, r: piece.New(m, piece.Options{Memory: memoryTier(o.memory), Disk: st, Network: f})}
	t.Cleanup(c.close)
	return c
}

// closeFetcher cancels fetches in flight and waits for pieces being
// persisted; the store stays open.
func (c *chain) closeFetcher(t *testing.T) {
	t.Helper()
	if err := c.f.Close(); err != nil {
		t.Errorf("fetcher Close: %v", err)
	}
}

// closeStore closes the store; close the fetcher first, as the CLI does.
func (c *chain) closeStore(t *testing.T) {
	t.Helper()
	if err := c.st.Close(); err != nil {
		t.Errorf("store Close: %v", err)
	}
}

// close closes the fetcher and then the store; both are idempotent.
func (c *chain) close() {
	c.f.Close()
	c.st.Close()
}

// readResult is what one ReadAt returned.
type readResult struct {
	p   []byte
	n   int
	err error
}

// readAt reads n bytes of e at off through the chain and fails the test if
// the read has not returned within limit: that is a hang detector, not a
// speed requirement, so limit is generous.
func readAt(t *testing.T, r *piece.Reader, e *meta.Entry, off int64, n int, limit time.Duration) readResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := startRead(ctx, r, e, off, n)
	select {
	case res := <-ch:
		return res
	case <-time.After(limit):
		t.Errorf("ReadAt(%s, off %d, %d bytes) still running after %v: hung", e.Path, off, n, limit)
	}
	cancel() // a context-aware read must give up now
	select {
	case res := <-ch:
		return res
	case <-time.After(10 * time.Second):
		t.Fatalf("ReadAt(%s) ignores its cancelled context", e.Path)
		panic("unreachable")
	}
}

// startRead runs ReadAt in a goroutine that ends when the read returns.
func startRead(ctx context.Context, r *piece.Reader, e *meta.Entry, off int64, n int) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		p := make([]byte, n)
		got, err := r.ReadAt(ctx, e, p, off)
		ch <- readResult{p: p, n: got, err: err}
	}()
	return ch
}

// memoryTier returns the memory tier of the given size, or nil (no tier)
// for 0, as the CLI wires it.
func memoryTier(size int64) piece.Memory {
	if size <= 0 {
		return nil
	}
	return cache.New[piece.Key](size)
}
