package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

// The bytes-fetched rows: how many bytes the origin sends for a cold read,
// counted by a relay in front of it.

const (
	// fetchedReads is how many cold random 4 KiB reads one run of the
	// bytes-fetched row makes.
	fetchedReads = 64
	// fetchedQuiet is how long the origin must send nothing before a count
	// is taken: the reads are done, and so is what they set off
	// (readahead, prefetch).
	fetchedQuiet = 300 * time.Millisecond
	// fetchedLimit bounds the wait for quiet.
	fetchedLimit = 30 * time.Second
)

// counted is a system mounted through a relay, for the bytes-fetched rows.
type counted struct {
	system
	relay   *relay
	started int64 // the relay's count when the last mount started
	mount   int64 // the most a fresh mount fetched before any read
}

// start notes the relay's count, then mounts.
func (cs *counted) start(ctx context.Context, cold bool) (*mount, error) {
	cs.started = cs.relay.sent.Load()
	return cs.system.start(ctx, cold)
}

// fetchedKiB returns a measurement of the KiB the origin sends per read for
// reads on a fresh cold mount of cs: it waits until the mount is quiet, so
// that what the mount fetches by itself (tag, manifest, a HEAD) is not
// counted, runs reads, which returns how many reads it made, and waits
// until the origin is quiet again.
func (b *bench) fetchedKiB(cs *counted, reads func(*os.File) (int, error)) measurement {
	return func(ctx context.Context, m *mount) (float64, error) {
		before, err := cs.relay.settle(ctx, fetchedQuiet, fetchedLimit)
		if err != nil {
			return 0, fmt.Errorf("before the reads: %w", err)
		}
		cs.mount = max(cs.mount, before-cs.started)
		f, err := os.Open(m.path(bigName))
		if err != nil {
			return 0, err
		}
		n, err := reads(f)
		f.Close()
		if err != nil {
			return 0, err
		}
		after, err := cs.relay.settle(ctx, fetchedQuiet, fetchedLimit)
		if err != nil {
			return 0, fmt.Errorf("after %d reads: %w", n, err)
		}
		return float64(after-before) / 1024 / float64(n), nil
	}
}

// randomReads makes fetchedReads 4 KiB reads of f at random aligned
// offsets, the same ones every run.
func randomReads(f *os.File) (int, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	blocks := fi.Size() / randomBlock
	if blocks == 0 {
		return 0, fmt.Errorf("the big file is smaller than one block")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	buf := make([]byte, randomBlock)
	for range fetchedReads {
		if _, err := f.ReadAt(buf, rng.Int64N(blocks)*randomBlock); err != nil {
			return 0, fmt.Errorf("pread %s: %w", f.Name(), err)
		}
	}
	return fetchedReads, nil
}

// oneByteRead reads one byte of f at oneByteOffset.
func oneByteRead(f *os.File) (int, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var one [1]byte
	if _, err := f.ReadAt(one[:], oneByteOffset(fi.Size())); err != nil {
		return 0, fmt.Errorf("read a byte of %s: %w", f.Name(), err)
	}
	return 1, nil
}

// oneByteOffset is where the 1-byte read reads: 5/8 into the file and off
// any power-of-two boundary, so inside a piece and a page.
func oneByteOffset(size int64) int64 { return (size*5/8 + 12345) % size }

// fetchedSuite runs both bytes-fetched rows for cs into column c, each run
// on a fresh cold mount.
func (b *bench) fetchedSuite(ctx context.Context, t *table, cs *counted, c column) error {
	for _, st := range []struct {
		r     *row
		reads func(*os.File) (int, error)
	}{{t.fetchedRandom, randomReads}, {t.fetchedOne, oneByteRead}} {
		if err := b.onMountRepeat(ctx, st.r, c, cs, true, b.fetchedKiB(cs, st.reads)); err != nil {
			return err
		}
	}
	t.fetchedOne.note = joinNote(t.fetchedOne.note, fmt.Sprintf("a fresh %s mount fetched %s before its first read, not counted", cs.name(), humanSize(cs.mount)))
	return nil
}

// joinNote appends a clause to a row's note.
func joinNote(note, more string) string {
	if note == "" {
		return more
	}
	return note + "; " + more
}
