package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/internal/durable"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/piece"
)

// The start-up prefetch: `mount --record FILE` writes the file ranges a
// start read, `publish --prefetch FILE` publishes them with the manifest
// (meta.PrefetchList, stored as a piece and named by Manifest.Prefetch),
// and a mount of such a manifest replays them in the background.

// defaultPrefetchRate is --prefetch-rate's default, in bytes a second.
const defaultPrefetchRate = 64 << 20

// readPrefetchFile reads and checks a prefetch list written by --record
// (or by hand).
func readPrefetchFile(path string) (*meta.PrefetchList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--prefetch: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, meta.MaxPrefetchSize+1))
	if err != nil {
		return nil, fmt.Errorf("--prefetch: %w", err)
	}
	l, err := meta.DecodePrefetch(b)
	if err != nil {
		return nil, fmt.Errorf("--prefetch %s: %w", path, err)
	}
	return l, nil
}

// checkRecordPath refuses, before anything is mounted, a --record FILE
// whose directory does not exist.
func checkRecordPath(path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return usageError{fmt.Sprintf("--record %s: its directory does not exist", path)}
	}
	return nil
}

// writeRecord writes what rc recorded to path atomically: a temporary file
// beside it, fsynced, renamed over it, the directory fsynced.
func writeRecord(path string, rc *piece.Recorder, log logrus.FieldLogger) error {
	l, full := rc.List()
	b, err := l.Encode()
	if err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails once renamed
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = durable.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	log.WithFields(logrus.Fields{"file": path, "ranges": len(l.Ranges), "full": full}).Info("wrote the read record")
	return nil
}

// prefetchLimiter paces a replay at bytesPerSec, in steps of at most an
// eighth of a second's bytes (64 KiB to 4 MiB), so that it starts slowly
// rather than with a burst.
func prefetchLimiter(bytesPerSec int64) *rate.Limiter {
	burst := min(max(bytesPerSec/8, 64<<10), 4<<20)
	return rate.NewLimiter(rate.Limit(bytesPerSec), int(burst))
}

// startPrefetch replays the manifest's prefetch list, if it has one and
// bytesPerSec is not 0, on a goroutine; the returned func stops it and
// waits for it. The list is fetched like a piece (verified against its
// digest and size, and cached), so a remount finds it without the origin.
func startPrefetch(m *meta.Manifest, f *fetch.Fetcher, r *piece.Reader, bytesPerSec, memory int64, log logrus.FieldLogger) (stop func()) {
	if m.Prefetch == nil || bytesPerSec <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		prefetch(ctx, m, f, r, bytesPerSec, memory, log)
	}()
	return func() { cancel(); wg.Wait() }
}

func prefetch(ctx context.Context, m *meta.Manifest, f *fetch.Fetcher, r *piece.Reader, bytesPerSec, memory int64, log logrus.FieldLogger) {
	log = log.WithField("list", m.Prefetch.Digest)
	b, err := f.Piece(ctx, m.Prefetch.Piece())
	if err != nil {
		log.WithError(err).Warn("prefetch list unavailable; mounted without prefetch")
		return
	}
	l, err := meta.DecodePrefetch(b)
	if err != nil {
		log.WithError(err).Warn("prefetch list refused; mounted without prefetch")
		return
	}
	slices := m.AppendPrefetchSlices(nil, l)
	res := r.Replay(ctx, slices, piece.ReplayOptions{Limit: prefetchLimiter(bytesPerSec), Memory: memory})
	fields := logrus.Fields{
		"ranges": len(l.Ranges), "fetches": res.Fetches, "fetched_bytes": res.FetchedBytes,
		"cached_bytes": res.HeldBytes, "failed": res.Failed, "seconds": res.Elapsed.Seconds(),
	}
	if res.Err != nil {
		log.WithFields(fields).Info("prefetch stopped")
		return
	}
	log.WithFields(fields).Info("prefetch done")
}
