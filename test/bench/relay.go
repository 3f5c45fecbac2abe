package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// relay is a TCP relay on 127.0.0.1 in front of one origin server. It
// counts the bytes the origin sends, response headers included (what
// nginx logs as $bytes_sent), whatever the origin is: nginx or `piecefs
// serve`. It relays bytes and never parses HTTP, so keep-alive, ranges and
// timing stay the client's and the origin's. Only the mounts of the
// bytes-fetched rows go through it.
type relay struct {
	ln       net.Listener
	upstream string // host:port of the origin
	url      string // http://127.0.0.1:PORT, the origin's URL through the relay
	sent     atomic.Int64

	mu     sync.Mutex // guards conns and closed
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // the accept loop and every pipe
}

// startRelay relays a new loopback port to the server of base
// (http://HOST:PORT).
func startRelay(base string) (*relay, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("relay to %q: not a base URL", base)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &relay{ln: ln, upstream: u.Host, url: harness.LoopbackURL(ln.Addr().(*net.TCPAddr).Port), conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		if !r.track(c) {
			c.Close()
			return
		}
		r.wg.Add(1)
		go r.pipe(c)
	}
}

// track remembers c so that close can end it; false once closed.
func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) untrack(c net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, c)
}

// pipe relays one client connection to a new connection to the origin
// until either side closes.
func (r *relay) pipe(client net.Conn) {
	defer r.wg.Done()
	defer r.untrack(client)
	defer client.Close()
	origin, err := net.DialTimeout("tcp", r.upstream, originTimeout)
	if err != nil {
		return // the client sees a closed connection, as from a dead origin
	}
	if !r.track(origin) {
		origin.Close()
		return
	}
	defer r.untrack(origin)
	defer origin.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(origin, client)
		_ = origin.(*net.TCPConn).CloseWrite() // the client is done asking
	}()
	_, _ = io.Copy(countingWriter{client, &r.sent}, origin)
	client.Close() // ends the other copy if the origin closed first
	<-done
}

// countingWriter adds what it writes to n. It also keeps io.Copy from
// splicing past the count.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	k, err := c.w.Write(b)
	c.n.Add(int64(k))
	return k, err
}

// settleEvery is how often settle looks at the count.
const settleEvery = 25 * time.Millisecond

// settle waits until the origin has sent nothing for quiet, or limit has
// passed, and returns the count then; the error says when it did not
// settle in time.
func (r *relay) settle(ctx context.Context, quiet, limit time.Duration) (int64, error) {
	start := time.Now()
	last, since := r.sent.Load(), start
	t := time.NewTicker(settleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return last, context.Cause(ctx)
		case now := <-t.C:
			if n := r.sent.Load(); n != last {
				last, since = n, now
			}
			switch {
			case now.Sub(since) >= quiet:
				return last, nil
			case now.Sub(start) >= limit:
				return last, fmt.Errorf("the origin was still sending after %v", limit)
			}
		}
	}
}

// close stops listening, ends every connection and waits for the pipes.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	_ = r.ln.Close() // ends the accept loop
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
