package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// TestCrashLoop kills a mount with SIGKILL at random moments while readers
// fetch through it, over and over on one cache directory, and checks after
// every kill that what the cache records complete is there and right, and
// after every restart that what the mount serves is right.
//
// Each iteration mounts the crash tree (one 256 MiB file of 256 KiB pieces
// of 64 KiB blocks, from an origin that sends each piece, or each range of
// one a GET asks for, in slow chunks, so many are in flight) on the same
// mountpoint, over the dead mount the last kill left, and starts four
// readers: cat of the whole file (cached pieces, then the fetch frontier),
// dd from an uncached piece to the end, dd inside a piece that the last
// kill left as a .part or a partial piece's .blocks file, and dd at a
// random offset. It then kills the mount after a random delay of up to
// 300ms, or right after a few more piece GETs were answered, so that kills
// land in the write-fsync-record sequences of blocks and of the completion
// of pieces too. One mount in three runs with --disk-cache 16MiB, far below
// what the cache holds, so that kills land in evictions too (a record must
// go before its file).
//
// Every byte the readers got, before the kill or after a restart, must
// equal the source's: a .part file, an unrecorded block or a torn piece
// served would show here. With the mount dead, piecefs.db is opened
// read-only: bbolt's check must be clean, every piece recorded complete
// must have its file, of its size and sha256 (each file is hashed once, so
// the work stays linear), and every block recorded of a partial piece must
// hold the piece's bytes in its .blocks file. A new mount must come up
// mounted once, with no .part file left. At the end a last mount reads the
// whole file back, stops cleanly, and leaves every piece recorded complete,
// no file the database does not record, and nothing mounted.
//
// PIECEFS_CRASH_ITERATIONS sets the number of kills: 200 by default, 20
// with -short. PIECEFS_CRASH_SEED replays a run's choices (the seed is
// logged; timing still varies).
func TestCrashLoop(t *testing.T) {
	requireFUSE(t)
	base := t.TempDir()
	t.Cleanup(func() { crashExpectNoMountsUnder(t, base) })
	n, seed := crashIterations(t), crashSeed(t)
	t.Logf("%d iterations, seed %d (PIECEFS_CRASH_SEED=%d replays the choices)", n, seed, seed)
	tr := newCrashTree(t)
	l := &crashLoop{
		tree:     tr,
		origin:   newCrashOrigin(t, tr.out),
		cache:    filepath.Join(base, "cache"),
		mnt:      filepath.Join(base, "mnt"),
		rng:      rand.New(rand.NewPCG(seed, 0)),
		verified: map[meta.Digest]crashFileID{},
	}
	if err := os.Mkdir(l.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range n {
		l.iterate(t, i)
		if t.Failed() {
			t.Fatalf("stopping after iteration %d of %d (seed %d)", i, n, seed)
		}
	}
	l.logStats(t, n, time.Since(start))
	l.final(t)
}

// crashIterations reads PIECEFS_CRASH_ITERATIONS.
func crashIterations(t *testing.T) int {
	s := os.Getenv("PIECEFS_CRASH_ITERATIONS")
	if s == "" {
		if testing.Short() {
			return 20
		}
		return 200
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("PIECEFS_CRASH_ITERATIONS=%q: want a positive number", s)
	}
	return n
}

// crashSeed reads PIECEFS_CRASH_SEED, or picks a seed.
func crashSeed(t *testing.T) uint64 {
	s := os.Getenv("PIECEFS_CRASH_SEED")
	if s == "" {
		return uint64(time.Now().UnixNano())
	}
	seed, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("PIECEFS_CRASH_SEED=%q: %v", s, err)
	}
	return seed
}

// crashLoop is the state the loop carries from one kill to the next.
type crashLoop struct {
	tree       *crashTree
	origin     *crashOrigin
	cache, mnt string
	rng        *rand.Rand
	// verified holds the recorded pieces whose file was hashed, with the
	// identity of that file: a piece dropped and written again is hashed
	// again, one that stayed is not.
	verified map[meta.Digest]crashFileID
	recorded map[meta.Digest]int64      // as the last check found it
	partials map[meta.Digest]blkPartial // as the last check found it
	parts    []meta.Digest              // pieces the last kill left a .part or .blocks file of
	midWrite int                        // .part files and unrecorded .blocks files the last kill left
	stats    crashStats
}

// crashFileID tells one file written at a path from a later one.
type crashFileID struct {
	ino, size int64
	mtime     int64 // nanoseconds
}

type crashStats struct {
	inFlight  int   // kills with a piece GET in flight
	withParts int   // kills that left a .part file or a .blocks file without its record
	bounded   int   // kills of a mount with --disk-cache
	hashed    int   // piece files hashed
	readBytes int64 // bytes the readers got, all compared with the source
}

// iterate mounts, reads, kills and checks once.
func (l *crashLoop) iterate(t *testing.T, i int) {
	t.Helper()
	flags := l.mountFlags()
	m := startMountAt(t, l.mnt, l.origin.URL(), l.cache, flags...)
	l.checkStart(t)
	servedBefore := l.origin.served.Load()
	readers := l.startReaders(t, m.dir)
	how, inFlight := l.kill(t, m, servedBefore)
	l.reap(t, readers)
	l.checkCache(t)
	l.stats.inFlight += int(min(inFlight, 1))
	l.stats.withParts += min(l.midWrite, 1)
	l.stats.bounded += min(len(flags), 1)
	t.Logf("kill %d %s%s: %d piece GETs in flight, %d .part and .blocks files left (%d cut short), %d pieces recorded complete, %d partial",
		i, strings.Join(append(flags, ""), " "), how, inFlight, len(l.parts), l.midWrite, len(l.recorded), len(l.partials))
}

// mountFlags bounds the disk cache of one mount in three, well below what
// the cache holds, so that evictions (at start, and for every new piece)
// are in progress when some kills land.
func (l *crashLoop) mountFlags() []string {
	if l.rng.IntN(3) == 0 {
		return []string{"--disk-cache", "16MiB"}
	}
	return nil
}

// checkStart checks a new mount: mounted once (the dead mount beneath was
// detached, not stacked on), and no .part file left from the last kill.
func (l *crashLoop) checkStart(t *testing.T) {
	t.Helper()
	if n := crashMountCount(t, l.mnt); n != 1 {
		t.Errorf("%s is in /proc/mounts %d times after a new mount, want once", l.mnt, n)
	}
	if _, parts := cacheFiles(l.cache); len(parts) > 0 {
		t.Errorf("a new mount is ready with .part files left from the kill: %q", firstN(parts))
	}
}

// startReaders starts the iteration's four readers of the file.
func (l *crashLoop) startReaders(t *testing.T, mnt string) []*crashReader {
	t.Helper()
	path := filepath.Join(mnt, crashFileName)
	size := l.tree.size
	from := l.pickUncached().start
	inPart := l.pickPart()
	inPartOff := inPart.start + l.rng.Int64N(inPart.length)
	randOff := l.rng.Int64N(size)
	reads := []crashRead{
		l.read("cat", 0, "cat", path),
		l.read(fmt.Sprintf("dd [%d, end)", from), from, append([]string{"dd"}, ddArgs(path, from, size-from)...)...),
		l.read(fmt.Sprintf("dd in a .part or .blocks piece [%d, +1MiB)", inPartOff), inPartOff,
			append([]string{"dd"}, ddArgs(path, inPartOff, min(1<<20, size-inPartOff))...)...),
		l.read(fmt.Sprintf("dd [%d, +512KiB)", randOff), randOff,
			append([]string{"dd"}, ddArgs(path, randOff, min(512<<10, size-randOff))...)...),
	}
	readers := make([]*crashReader, len(reads))
	for i, r := range reads {
		readers[i] = crashStartReader(t, r)
	}
	return readers
}

func (l *crashLoop) read(what string, off int64, argv ...string) crashRead {
	return crashRead{what: what, src: l.tree.file, off: off, limit: toolTimeout, argv: argv}
}

// pickUncached returns a random piece the cache does not record, or any
// piece once all are recorded.
func (l *crashLoop) pickUncached() span {
	var uncached []span
	for _, s := range l.tree.spans {
		if _, ok := l.recorded[s.piece.Digest]; !ok {
			uncached = append(uncached, s)
		}
	}
	if len(uncached) == 0 {
		uncached = l.tree.spans
	}
	return uncached[l.rng.IntN(len(uncached))]
}

// pickPart returns a piece the last kill left a .part or .blocks file of,
// or an uncached one.
func (l *crashLoop) pickPart() span {
	if len(l.parts) > 0 {
		if s, ok := l.tree.byDig[l.parts[l.rng.IntN(len(l.parts))]]; ok {
			return s
		}
	}
	return l.pickUncached()
}

// kill SIGKILLs the mount after a random delay, or right after a few more
// piece GETs were answered in full. It returns how it chose and the piece
// GETs in flight just before the kill.
func (l *crashLoop) kill(t *testing.T, m *mount, servedBefore int64) (string, int64) {
	t.Helper()
	const most = 300 * time.Millisecond
	start := time.Now()
	var how string
	if l.rng.IntN(2) == 0 {
		d := time.Duration(l.rng.Int64N(int64(most)))
		time.Sleep(d)
		how = fmt.Sprintf("after %v", d.Round(time.Millisecond))
	} else {
		k := 1 + l.rng.Int64N(6)
		jitter := time.Duration(l.rng.Int64N(int64(3 * time.Millisecond)))
		for l.origin.served.Load()-servedBefore < k && time.Since(start) < most {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(jitter)
		how = fmt.Sprintf("%v after %d piece GETs were answered (%d wanted)",
			time.Since(start).Round(time.Millisecond), l.origin.served.Load()-servedBefore, k)
	}
	inFlight := l.origin.inFlight.Load()
	m.Kill(t)
	return how, inFlight
}

// reap waits for every reader, which the kill must end, and checks the
// bytes each got.
func (l *crashLoop) reap(t *testing.T, readers []*crashReader) {
	t.Helper()
	const limit = 30 * time.Second
	for _, r := range readers {
		if !r.wait(limit) {
			t.Errorf("%s: still running %v after its mount was killed", r.what, limit)
			r.kill()
		}
		if err := r.checkBytes(); err != nil {
			t.Error(err)
		}
		l.stats.readBytes += r.cmp.received()
	}
}

// logStats says how much the loop exercised.
func (l *crashLoop) logStats(t *testing.T, n int, elapsed time.Duration) {
	t.Helper()
	s := l.stats
	t.Logf("%d kills in %v: %d with piece GETs in flight, %d left .part files or unrecorded .blocks files, %d with --disk-cache; %d piece files hashed, %d pieces recorded complete, %d partial; readers got %d MiB, all equal to the source",
		n, elapsed.Round(time.Millisecond), s.inFlight, s.withParts, s.bounded, s.hashed, len(l.recorded), len(l.partials), s.readBytes>>20)
	// A loop that never killed mid-fetch proved nothing about crashes; a
	// handful of kills may be unlucky.
	if n >= 20 && (s.inFlight == 0 || s.withParts == 0) {
		t.Errorf("no kill found a piece GET in flight (%d) or left a .part file or an unrecorded .blocks file (%d): the loop did not test crashes mid-fetch", s.inFlight, s.withParts)
	}
}

// final reads the whole file through a last mount, unthrottled, stops it,
// and checks the cache it leaves.
func (l *crashLoop) final(t *testing.T) {
	t.Helper()
	l.origin.throttle.Store(false)
	m := startMountAt(t, l.mnt, l.origin.URL(), l.cache)
	l.checkStart(t)
	r := crashStartReader(t, l.read("cat of the whole file after the last kill", 0, "cat", filepath.Join(m.dir, crashFileName)))
	r.expectComplete(t, l.tree.size)
	m.Stop(t)
	checkDBIntegrity(t, l.cache)
	if got, want := checkRecordedPieces(t, l.cache), len(l.tree.byDig); got != want {
		t.Errorf("after reading the whole file: %d pieces recorded complete, want %d", got, want)
	}
	checkNoStrays(t, l.cache, l.tree.out)
}
