package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

// killRound is one kill of TestKillDuringRangedFetches: when the mount is
// killed, and what the origin does for the mount that checks the cache.
type killRound struct {
	random, sequential int           // readers of random pages, and of 128 KiB front to back
	pace               time.Duration // the origin's pace (see blkOrigin.SetPace)
	after              time.Duration // the kill comes at least this long after the readers start
	minReads           int64         // and once they have read this many times
	offline            string        // "down": the origin is stopped; "garbage": it serves garbage for every piece
}

// killPace slows the origin's piece bodies (16 KiB per 2 ms, 8 MB/s a
// connection), so that a kill finds ranged fetches half received.
const killPace = 2 * time.Millisecond

// TestKillDuringRangedFetches reads a 64 MiB file of a version 2
// publication (4 MiB pieces) with readers of random pages and sequential
// readers of 128 KiB (whose readahead fetches runs of blocks), and kills
// the mount with SIGKILL while ranged fetches are in flight: from a slow
// origin, so that bodies are half received, or at full speed, so that
// pieces are being made complete one after another. The cache the kill
// leaves is checked as it lies: a sound database, every recorded block
// right in its .blocks file, and .blocks files present after at least one
// kill. Then a mount of it against an origin that is down, or that serves
// garbage for every piece, reads every 64 KiB block of the file: each read
// returns the source's bytes or fails with EIO, never other bytes; every
// block the cache records is served (nothing recorded is lost to a crash);
// and some are. Last, a mount of the cache against a good origin reads the
// whole file right. Five rounds kill at different moments.
func TestKillDuringRangedFetches(t *testing.T) {
	requireFUSE(t)
	const rel = "big.bin"
	pub := blkPublish(t, map[string][]byte{rel: blkBytes(2, 64<<20)}, "--piece-size", "4MiB")
	pieces := pub.pieces(t)
	rounds := []killRound{
		{random: 3, sequential: 1, pace: killPace, after: 300 * time.Millisecond, minReads: 10, offline: "down"},
		{random: 3, sequential: 1, pace: killPace, after: 900 * time.Millisecond, minReads: 40, offline: "garbage"},
		{random: 3, sequential: 1, pace: killPace, after: 2 * time.Second, minReads: 100, offline: "down"},
		// At full speed, sequential readers complete pieces one after
		// another: the kill is likely to find one being made complete.
		{random: 1, sequential: 3, after: 150 * time.Millisecond, minReads: 10, offline: "garbage"},
		{random: 1, sequential: 3, after: 250 * time.Millisecond, minReads: 10, offline: "down"},
	}
	partialFiles := 0
	for i, r := range rounds {
		name := fmt.Sprintf("%d-%drandom-%dsequential-after-%v-origin-%s", i, r.random, r.sequential, r.after, r.offline)
		t.Run(name, func(t *testing.T) {
			partialFiles += r.run(t, pub, rel, pieces, uint64(i))
		})
	}
	if partialFiles == 0 && !t.Failed() {
		t.Errorf("no round left a .blocks file in the cache: no kill found a partial piece")
	}
}

// run is one round on a cache of its own; it returns how many .blocks
// files the kill left.
func (r killRound) run(t *testing.T, pub *blkPub, rel string, pieces map[meta.Digest][]byte, seed uint64) int {
	content := pub.files[rel]
	cache := t.TempDir()
	origin := newBlkOrigin(t, pub.out)
	origin.SetPace(r.pace)
	m := startMount(t, origin.URL(), cache)
	f := blkOpen(t, m.dir, rel)
	rd := startKillReaders(f, content, seed, r.random, r.sequential)
	start := time.Now()
	waitFor(t, 30*time.Second, fmt.Sprintf("%v and %d reads", r.after, r.minReads), func() bool {
		return time.Since(start) >= r.after && rd.reads.Load() >= r.minReads || rd.failed()
	})
	rd.killed.Store(true)
	t.Logf("killing the mount after %v: %d reads done", time.Since(start).Round(time.Millisecond), rd.reads.Load())
	m.Kill(t)
	if !rd.wait(20 * time.Second) {
		t.Fatalf("readers of the killed mount still blocked 20s after the kill")
	}
	f.Close()
	unmount(t, m.dir)
	rd.check(t)

	files := blkPartialFiles(cache)
	checkDBIntegrity(t, cache)
	complete := checkRecordedPieces(t, cache)
	partials := blkCheckPartials(t, cache, pieces)
	want := blkCachedBlocks(t, cache, pub, rel)
	t.Logf("after the kill: %d .blocks files, %d pieces recorded complete, %d partial, %d of %d blocks of %s recorded",
		len(files), complete, len(partials), len(want), meta.NumBlocks(int64(len(content)), blkSize), rel)

	switch r.offline {
	case "down":
		origin.Stop()
	case "garbage":
		origin.SetPace(0)
		origin.SetGarbage(true)
	default:
		t.Fatalf("offline %q", r.offline)
	}
	served := killReadOffline(t, cache, origin.URL(), rel, content, r.offline)
	var lost []int64
	for _, b := range blkSortedKeys(want) {
		if !served[b] {
			lost = append(lost, b)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d blocks recorded in the cache were not served with the origin %s: file blocks %v", len(lost), r.offline, lost[:min(len(lost), 20)])
	}
	if len(served) == 0 {
		t.Errorf("with the origin %s, no block was served: the kill left no verified block behind", r.offline)
	}
	if extra := len(served) - len(want) + len(lost); extra > 0 {
		t.Logf("%d blocks served with the origin %s that the cache did not record", extra, r.offline)
	}

	killReadWhole(t, cache, pub, rel)
	return len(files)
}

// killReadOffline mounts cache against origin, which is down or serves
// garbage, and reads every 64 KiB block of rel: each must read right or
// fail with EIO. It returns the blocks that read right.
func killReadOffline(t *testing.T, cache, origin, rel string, content []byte, how string) map[int64]bool {
	t.Helper()
	// One attempt: every fetch fails, and each retry would cost a backoff.
	m := startMount(t, origin, cache, "--attempts", "1")
	f := blkOpen(t, m.dir, rel)
	served := map[int64]bool{}
	var eio, other int
	buf := make([]byte, blkSize)
	for off := int64(0); off < int64(len(content)); off += blkSize {
		want := content[off:min(off+blkSize, int64(len(content)))]
		n, err := blkPread(f, buf[:len(want)], off)
		if !bytes.Equal(buf[:n], want[:n]) {
			t.Errorf("with the origin %s, pread %s [%d, +%d) returned bytes that differ from the source's (first at %d)", how, rel, off, len(want), off+int64(blkFirstDiff(buf[:n], want)))
		}
		switch {
		case err == nil:
			served[off/blkSize] = true
		case errors.Is(err, unix.EIO) && n == 0:
			eio++
		default:
			if other++; other <= 5 {
				t.Errorf("with the origin %s, pread %s [%d, +%d): %d bytes and %v, want all of them or EIO", how, rel, off, len(want), n, err)
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m.Stop(t)
	t.Logf("with the origin %s: %d blocks served from the cache, %d failed with EIO, %d otherwise", how, len(served), eio, other)
	return served
}

// killReadWhole mounts cache against a good origin and hashes the whole
// file: the killed mount's leftovers must not spoil later reads.
func killReadWhole(t *testing.T, cache string, pub *blkPub, rel string) {
	t.Helper()
	origin := newBlkOrigin(t, pub.out)
	m := startMount(t, origin.URL(), cache, "--digest", pub.digest)
	compareBlkHashes(t, m.dir, pub, []string{rel})
	m.Stop(t)
	checkRecordedPieces(t, cache)
	blkCheckPartials(t, cache, pub.pieces(t))
}

// killReaders read a file on a mount until it is killed: readers of
// random pages and sequential readers of 128 KiB at a time, each checking
// every byte it gets.
type killReaders struct {
	f       *os.File
	content []byte
	reads   atomic.Int64 // reads that returned the right bytes
	killed  atomic.Bool  // set before the mount is killed: errors are expected from then on
	wg      sync.WaitGroup

	mu   sync.Mutex // guards errs
	errs []string   // wrong bytes at any time; errors before the kill
}

// startKillReaders starts random readers of a page at a time and
// sequential ones of 128 KiB, the latter spread evenly over the file.
func startKillReaders(f *os.File, content []byte, seed uint64, random, sequential int) *killReaders {
	rd := &killReaders{f: f, content: content}
	size := int64(len(content))
	for id := range random + sequential {
		rng := rand.New(rand.NewPCG(seed, uint64(id)))
		next, n := func() int64 { return rng.Int64N(size/blkPage) * blkPage }, int64(blkPage)
		if id >= random {
			n = 2 * blkSize
			off := int64(id-random)*(size/int64(sequential)) + rng.Int64N(16)*blkSize - n
			next = func() int64 { off = (off + n) % size; return off }
		}
		rd.wg.Add(1)
		go rd.loop(next, n)
	}
	return rd
}

func (rd *killReaders) loop(next func() int64, n int64) {
	defer rd.wg.Done()
	buf := make([]byte, n)
	for !rd.failed() && !rd.killed.Load() { // pages the kernel cached read well even from a dead mount
		off := next()
		want := rd.content[off:min(off+n, int64(len(rd.content)))]
		got, err := blkPread(rd.f, buf[:len(want)], off)
		if !bytes.Equal(buf[:got], want[:got]) {
			rd.fail("pread [%d, +%d): bytes that differ from the source's (first at %d)", off, len(want), off+int64(blkFirstDiff(buf[:got], want)))
			return
		}
		switch {
		case err == nil:
			rd.reads.Add(1)
		case rd.killed.Load():
			return
		default:
			rd.fail("pread [%d, +%d) before the kill: %v after %d bytes", off, len(want), err, got)
			return
		}
	}
}

func (rd *killReaders) fail(format string, args ...any) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.errs = append(rd.errs, fmt.Sprintf(format, args...))
}

func (rd *killReaders) failed() bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return len(rd.errs) > 0
}

// wait waits up to d for the readers to return and reports whether they did.
func (rd *killReaders) wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() { rd.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func (rd *killReaders) check(t *testing.T) {
	t.Helper()
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for _, e := range rd.errs {
		t.Errorf("reader: %s", e)
	}
}
