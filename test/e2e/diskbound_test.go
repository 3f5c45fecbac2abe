package e2e

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const (
	// boundDisk is the --disk-cache of TestDiskCacheBound: eight of the
	// shared tree's pieces.
	boundDisk     = 8 << 20
	boundDiskFlag = "8MiB"
)

// boundInFlight is how many bytes of pieces of pieceSize may be in flight
// beyond the disk bound: the piece being admitted; the blocks written and
// waiting for their commit (16 MiB: fetch's maxPersisting; beyond it a
// fetch commits before it answers); and the fetches the kernel's readahead
// and the read itself start, whose verified blocks are written as they
// arrive (at most 4 pieces with 1 MiB reads).
func boundInFlight(pieceSize int64) int64 { return pieceSize + 16<<20 + 4*pieceSize }

// TestDiskCacheBound reads three times --disk-cache through a mount, then
// reads some of it again, and checks after every read, and by polling in
// between, that the piece files in the cache (.part files included, and
// partial pieces' sparse .blocks files by the bytes allocated to them)
// never exceed the bound by more than the pieces that may be in flight;
// that every byte read is right; and that the piece read last stays
// cached.
//
// The memory tier is off and each read first drops the kernel's cached
// pages of its range, so that every read reaches the disk tier.
func TestDiskCacheBound(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache, "--disk-cache", boundDiskFlag, "--memory-cache", "0")
	pieces := filepath.Join(cache, piecesDir)
	limit := boundDisk + boundInFlight(pieceSize)
	var atMax boundCacheMix
	poll := startBoundSampler(t, 10*time.Millisecond, func() (int64, bool) { return atMax.measure(pieces), true })
	f, err := os.Open(filepath.Join(m.dir, fx.tree.big))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	disarm := boundWatchdog(t, m, 5*time.Minute)

	var stepMax int64
	step := func(what string, off, n int64) {
		t.Helper()
		boundReadBig(t, f, off, n)
		got := boundDirBytes(pieces)
		stepMax = max(stepMax, got)
		if got > limit {
			t.Errorf("after %s [%d, +%d): %s of piece files in the cache, want at most %s (bound %s + %s in flight)",
				what, off, n, boundMiB(got), boundMiB(limit), boundMiB(boundDisk), boundMiB(boundInFlight(pieceSize)))
		}
	}
	for off := int64(0); off < 3*boundDisk; off += 2 * pieceSize {
		step("sequential read", off, 2*pieceSize)
	}
	for off := int64(0); off < boundDisk; off += 2 * pieceSize {
		step("re-read of an evicted range", off, 2*pieceSize)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var last int64
	for range 8 {
		last = rng.Int64N(3*boundDisk/pieceSize) * pieceSize
		step("random re-read", last, pieceSize)
	}

	// The piece read last must still be on disk: no GET to read it again.
	lastURL := dmgPieceURL(spanAt(t, fileSpans(t, loadManifest(t), fx.tree.big), last).piece.Digest)
	before := origin.Gets(lastURL)
	boundReadBig(t, f, last, pieceSize)
	if got := origin.Gets(lastURL) - before; got != 0 {
		t.Errorf("re-reading the piece read last (at %d) made %d GETs, want 0: it was evicted", last, got)
	}
	disarm()
	pollMax := poll.Stop()
	t.Logf("piece files in the cache: max %s after a read step, max %s polled every 10ms (%d samples; at the max: %s); complete files at most %s; bound %s, allowed %s; %d piece GETs",
		boundMiB(stepMax), boundMiB(pollMax), poll.samples.Load(), &atMax, boundMiB(atMax.MaxComplete()),
		boundMiB(boundDisk), boundMiB(limit), origin.PieceGets())
	if pollMax > limit {
		t.Errorf("polling saw %s of piece files in the cache, want at most %s", boundMiB(pollMax), boundMiB(limit))
	}
	// What the store admits by itself, the bound and one piece, is checked
	// in what it records once the mount has stopped (below): a walk of the
	// directories is not atomic and can count an evicted file and its
	// replacement together, so the polled total above allows for the
	// writes in flight.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m.Stop(t)
	boundCheckStoppedCache(t, cache, boundDisk+pieceSize)
}

// boundReadBig reads [off, +n) of the big file on the mount, bypassing the
// kernel's page cache, and compares it with the source.
func boundReadBig(t *testing.T, f *os.File, off, n int64) {
	t.Helper()
	boundDropCache(t, f, off, n)
	got := make([]byte, n)
	if _, err := f.ReadAt(got, off); err != nil {
		t.Fatalf("read %s [%d, +%d) on the mount: %v", fx.tree.big, off, n, err)
	}
	if !bytes.Equal(got, sourceRange(t, fx.tree.big, off, n)) {
		t.Fatalf("read %s [%d, +%d) on the mount: bytes differ from the source", fx.tree.big, off, n)
	}
}

// boundCheckStoppedCache checks the cache a bounded mount left: sound, and
// with no fetch in flight any more, recording at most limit bytes in
// complete pieces and recorded blocks of partial ones together.
func boundCheckStoppedCache(t *testing.T, cache string, limit int64) {
	t.Helper()
	checkDBIntegrity(t, cache)
	checkRecordedPieces(t, cache)
	dmgCheckNoStrays(t, cache)
	complete, partial := recordedBytes(t, cache)
	t.Logf("after the mount stopped: %s recorded complete, %s in recorded blocks of partial pieces (%s allocated to .blocks files)",
		boundMiB(complete), boundMiB(partial), boundMiB(boundPartialAllocated(cache)))
	if total := complete + partial; total > limit {
		t.Errorf("after the mount stopped: %s recorded (%s complete, %s partial), want at most %s (the bound and one piece)",
			boundMiB(total), boundMiB(complete), boundMiB(partial), boundMiB(limit))
	}
}

// boundPartialAllocated is the bytes allocated to the cache's .blocks files.
func boundPartialAllocated(cache string) int64 {
	var total int64
	for _, p := range blkPartialFiles(cache) {
		if fi, err := os.Stat(p); err == nil {
			total += boundFileBytes(p, fi)
		}
	}
	return total
}
