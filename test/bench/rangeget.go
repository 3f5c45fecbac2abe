package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
)

// The origin baselines: what one HTTP client gets from the same origin over
// keep-alive connections that are already open, asking for exactly the
// bytes it wants. They are the floor a lazy-fetching file system stands on.

// rangeSamples is how many 1-byte GETs the first-byte baseline times.
const rangeSamples = 100

// bigPieces maps offsets of the big file to its pieces at the origin: every
// piece but the last holds size bytes.
type bigPieces struct {
	urls []string
	size int64 // the manifest's piece size
	file int64 // the big file's size
}

// locate returns the piece URL holding offset off and the offset inside it.
func (p bigPieces) locate(off int64) (string, int64) {
	return p.urls[off/p.size], off % p.size
}

// check fails unless the pieces cover the file as locate assumes.
func (p bigPieces) check() error {
	if want := (p.file + p.size - 1) / p.size; int64(len(p.urls)) != want {
		return fmt.Errorf("the big file has %d pieces, want %d of %d bytes", len(p.urls), want, p.size)
	}
	return nil
}

// keepAlive is an HTTP client of at most conns connections to one origin,
// kept open between requests.
func keepAlive(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, DisableCompression: true}}
}

// rangeGET gets n bytes of the big file at off and checks that n arrived.
func rangeGET(ctx context.Context, c *http.Client, p bigPieces, off, n int64) error {
	u, at := p.locate(off)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(at, 10)+"-"+strconv.FormatInt(at+n-1, 10))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.Copy(io.Discard, resp.Body)
	switch {
	case err != nil:
		return fmt.Errorf("GET %s at %d: %w", u, at, err)
	case resp.StatusCode != http.StatusPartialContent || got != n:
		return fmt.Errorf("GET %s at %d: %s with %d bytes, want 206 Partial Content with %d", u, at, resp.Status, got, n)
	}
	return nil
}

// rangeFirstByteMs opens one keep-alive connection, drops the page cache,
// then times rangeSamples GETs of one byte (Range: bytes=N-N) at random
// offsets, one after the other, and returns the median in ms.
func (b *bench) rangeFirstByteMs(ctx context.Context) (float64, error) {
	c := keepAlive(1)
	defer c.CloseIdleConnections()
	rng := rand.New(rand.NewPCG(3, 4))
	if err := rangeGET(ctx, c, b.pieces, 0, 1); err != nil {
		return 0, err
	}
	if err := dropCaches(); err != nil {
		return 0, err
	}
	times := make([]float64, rangeSamples)
	for i := range times {
		start := time.Now()
		if err := rangeGET(ctx, c, b.pieces, rng.Int64N(b.pieces.file), 1); err != nil {
			return 0, err
		}
		times[i] = ms(time.Since(start))
	}
	return median(times), nil
}

// rangeRate opens depth keep-alive connections, drops the page cache, then
// has depth workers GET 4 KiB at random aligned offsets for the random-read
// runtime, one request at a time each, and returns requests per second.
func (b *bench) rangeRate(ctx context.Context, depth int) (randResult, error) {
	blocks := b.pieces.file / randomBlock
	if blocks == 0 {
		return randResult{}, fmt.Errorf("the big file is smaller than one block")
	}
	c := keepAlive(depth)
	defer c.CloseIdleConnections()
	warm, wctx := errgroup.WithContext(ctx)
	for range depth {
		warm.Go(func() error { return rangeGET(wctx, c, b.pieces, 0, randomBlock) })
	}
	if err := warm.Wait(); err != nil {
		return randResult{}, err
	}
	if err := dropCaches(); err != nil {
		return randResult{}, err
	}
	lat := make([][]time.Duration, depth)
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	deadline := start.Add(b.cfg.fioRuntime)
	for i := range depth {
		g.Go(func() error {
			rng := rand.New(rand.NewPCG(5, uint64(i)))
			for t := time.Now(); t.Before(deadline); {
				if err := rangeGET(gctx, c, b.pieces, rng.Int64N(blocks)*randomBlock, randomBlock); err != nil {
					return err
				}
				now := time.Now()
				lat[i] = append(lat[i], now.Sub(t))
				t = now
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return randResult{}, err
	}
	return summarize(slices.Concat(lat...), time.Since(start)), nil
}

// originSuite measures the origin baselines into the baseline column: the
// first-byte rows and the cold random-read rows.
func (b *bench) originSuite(ctx context.Context, t *table) error {
	err := b.repeat(ctx, t.ttfb, colBase, func(ctx context.Context) (float64, memUse, error) {
		v, err := b.rangeFirstByteMs(ctx)
		return v, memUse{}, err
	})
	if err != nil {
		return err
	}
	if t.ttfbHuge != nil {
		t.ttfbHuge.samples[colBase] = t.ttfb.samples[colBase]
	}
	for d, depth := range depths {
		r := t.random[0][d]
		err := b.repeat(ctx, r, colBase, func(ctx context.Context) (float64, memUse, error) {
			res, err := b.rangeRate(ctx, depth)
			if err == nil {
				r.p99[colBase] = append(r.p99[colBase], ms(res.p99))
			}
			return res.iops, memUse{}, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
