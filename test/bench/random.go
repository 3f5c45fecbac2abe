package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
)

// goRandomRead is the fallback for fio: depth goroutines, each preading
// bs bytes at random aligned offsets of one shared file until runtime ends.
func goRandomRead(ctx context.Context, path string, depth int, bs int64, runtime time.Duration) (randResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return randResult{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return randResult{}, err
	}
	blocks := fi.Size() / bs
	if blocks == 0 {
		return randResult{}, fmt.Errorf("%s is smaller than one block", path)
	}
	lat := make([][]time.Duration, depth)
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	deadline := start.Add(runtime)
	for i := range depth {
		g.Go(func() (err error) {
			lat[i], err = preadLoop(gctx, f, blocks, bs, deadline, uint64(i))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return randResult{}, err
	}
	return summarize(slices.Concat(lat...), time.Since(start)), nil
}

// preadLoop reads random blocks until deadline and returns each read's latency.
func preadLoop(ctx context.Context, f *os.File, blocks, bs int64, deadline time.Time, stream uint64) ([]time.Duration, error) {
	rng := rand.New(rand.NewPCG(42, stream))
	buf := make([]byte, bs)
	var lat []time.Duration
	for t := time.Now(); t.Before(deadline); {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		if _, err := f.ReadAt(buf, rng.Int64N(blocks)*bs); err != nil {
			return nil, fmt.Errorf("pread %s: %w", f.Name(), err)
		}
		now := time.Now()
		lat = append(lat, now.Sub(t))
		t = now
	}
	return lat, nil
}

func summarize(lat []time.Duration, elapsed time.Duration) randResult {
	if len(lat) == 0 {
		return randResult{}
	}
	slices.Sort(lat)
	return randResult{iops: float64(len(lat)) / elapsed.Seconds(), p99: lat[len(lat)*99/100]}
}
