package piece

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is a readahead over whole pieces whose fetches only record the
// piece index and block until released, so a test sees exactly what was
// prefetched.
func recorder(window int) (*readahead, func() []int, func()) {
	ra, got, _, done := recorderOf(window, 1, 2)
	return ra, got, done
}

// recorderOf is recorder over positions, perPiece to a piece; it also
// returns the last position of each prefetch, in the order of the first.
func recorderOf(window, perPiece, lag int) (*readahead, func() []int, func() []int, func()) {
	var mu sync.Mutex
	var got, ends []int
	release := make(chan struct{})
	ra := newReadahead(window, perPiece, lag, func(ctx context.Context, from, to int) {
		mu.Lock()
		got, ends = append(got, from), append(ends, to)
		mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	return ra, func() []int {
			mu.Lock()
			defer mu.Unlock()
			return append([]int(nil), got...)
		}, func() []int {
			mu.Lock()
			defer mu.Unlock()
			return append([]int(nil), ends...)
		}, func() {
			close(release)
			ra.stop()
		}
}

func waitLen(t *testing.T, f func() []int, n int) []int {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if got := f(); len(got) >= n {
			return got
		}
		runtimeYield()
	}
	t.Fatalf("prefetched %v, want %d pieces", f(), n)
	return nil
}

func TestReadaheadSequential(t *testing.T) {
	ra, got, done := recorder(8)
	defer done()
	if ra.observe(5, 5, 100, false) { // a new stream: nothing yet
		t.Fatal("a first read looks sequential")
	}
	ra.observe(6, 6, 100, false) // moved on once: could be chance
	if g := got(); len(g) != 0 {
		t.Fatalf("a stream that moved on once prefetched %v", g)
	}
	if !ra.observe(7, 7, 100, false) { // twice: sequential, window 2
		t.Fatal("three reads in a row do not look sequential")
	}
	g := waitLen(t, got, 2)
	if !sameSet(g, 8, 9) {
		t.Fatalf("prefetched %v, want pieces 8 and 9", g)
	}
}

func TestReadaheadFromFileStart(t *testing.T) {
	ra, got, done := recorder(8)
	defer done()
	ra.observe(0, 0, 100, true) // the start of a file counts as a first step
	if !ra.observe(1, 1, 100, false) {
		t.Fatal("reading on from a file's start does not look sequential")
	}
	if g := waitLen(t, got, 2); !sameSet(g, 2, 3) {
		t.Fatalf("prefetched %v, want pieces 2 and 3", g)
	}
}

func TestReadaheadRandomPrefetchesNothing(t *testing.T) {
	ra, got, done := recorder(8)
	defer done()
	for _, i := range []int{50, 7, 93, 21, 64, 3, 88, 51, 8, 94} {
		if ra.observe(i, i, 100, false) {
			t.Errorf("random read of piece %d looks sequential", i)
		}
	}
	if g := got(); len(g) != 0 {
		t.Fatalf("random reads prefetched %v", g)
	}
}

func TestReadaheadBounded(t *testing.T) {
	ra, got, done := recorder(64)
	defer done()
	for i := 0; i < 10; i++ {
		ra.observe(i, i, 1000, false)
	}
	g := waitLen(t, got, maxPrefetching)
	if len(g) > maxPrefetching {
		t.Fatalf("%d prefetches in flight, at most %d allowed", len(g), maxPrefetching)
	}
}

func TestReadaheadOutOfOrderKeepsStream(t *testing.T) {
	ra, got, done := recorder(4)
	defer done()
	for _, i := range []int{0, 1, 3, 2, 4} { // async reads arrive out of order
		ra.observe(i, i, 100, false)
	}
	g := waitLen(t, got, 1)
	seen := map[int]int{}
	for _, i := range g {
		seen[i]++
		if seen[i] > 1 {
			t.Fatalf("piece %d prefetched twice: %v", i, g)
		}
	}
}

func TestReadaheadStopsAtEnd(t *testing.T) {
	ra, got, done := recorder(8)
	defer done()
	ra.observe(0, 0, 3, true)
	ra.observe(1, 1, 3, false)
	g := waitLen(t, got, 1)
	for _, i := range g {
		if i >= 3 {
			t.Fatalf("prefetched piece %d of 3", i)
		}
	}
}

func sameSet(got []int, want ...int) bool {
	if len(got) != len(want) {
		return false
	}
	m := map[int]bool{}
	for _, i := range got {
		m[i] = true
	}
	for _, i := range want {
		if !m[i] {
			return false
		}
	}
	return true
}

func runtimeYield() { time.Sleep(time.Millisecond) }

// TestReadaheadRandomRarelyTriggers counts how often a random reader trips
// readahead: random 4 KiB reads over a large file (1,000 pieces) now and
// then land next to an earlier one, and must almost never pass for a
// sequential stream.
func TestReadaheadRandomRarelyTriggers(t *testing.T) {
	ra, got, done := recorder(16)
	defer done()
	rng := rand.New(rand.NewPCG(7, 7))
	const reads, pieces = 20000, 1000
	sequential := 0
	for range reads {
		i := rng.IntN(pieces)
		if ra.observe(i, i, pieces, false) {
			sequential++
		}
	}
	t.Logf("%d of %d random reads looked sequential; %d pieces prefetched", sequential, reads, len(got()))
	if sequential > reads/1000 {
		t.Errorf("%d of %d random reads looked sequential, want at most 0.1%%", sequential, reads)
	}
}

// TestReadaheadGrowsInUnits: over pieces of 64 units, a sequential reader's
// window starts at two units, doubles as it goes, prefetches grow with it
// and never cross a piece.
func TestReadaheadGrowsInUnits(t *testing.T) {
	const perPiece, window = 64, 1024
	var mu sync.Mutex
	var spans [][2]int
	ra := newReadahead(window, perPiece, perPiece, func(ctx context.Context, from, to int) {
		mu.Lock()
		spans = append(spans, [2]int{from, to})
		mu.Unlock()
	})
	defer ra.stop()
	first := 0
	for pos := 0; pos < 40; pos += 2 { // reads of two units each
		ra.observe(pos, pos+1, 100*perPiece, pos == 0)
		time.Sleep(time.Millisecond) // let prefetches finish and free their slots
		mu.Lock()
		if pos == 2 {
			first = len(spans)
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	if first == 0 || spans[0] != [2]int{2, 2} {
		t.Fatalf("prefetches %v, want the first right after the first read (from a file's start)", spans)
	}
	widest := 0
	for _, sp := range spans {
		if sp[0]/perPiece != sp[1]/perPiece {
			t.Fatalf("prefetch %v crosses a piece", sp)
		}
		widest = max(widest, sp[1]-sp[0]+1)
	}
	if widest < 8 {
		t.Errorf("widest prefetch %d units after 20 sequential reads, want the window grown", widest)
	}
	t.Logf("%d prefetches, widest %d units; first %v", len(spans), widest, spans[:min(len(spans), 6)])
}

// TestReadaheadRandomUnitsRarelyTrigger is TestReadaheadRandomRarelyTriggers
// over a version 2 geometry: 1,000 pieces of 64 units, with the lag the
// reader uses (lagBytes in 64 KiB units).
func TestReadaheadRandomUnitsRarelyTrigger(t *testing.T) {
	const perPiece, pieces, reads = 64, 1000, 20000
	ra, got, _, done := recorderOf(1024, perPiece, lagBytes/(64<<10))
	defer done()
	rng := rand.New(rand.NewPCG(7, 7))
	sequential := 0
	for range reads {
		i := rng.IntN(pieces * perPiece)
		if ra.observe(i, i, pieces*perPiece, false) {
			sequential++
		}
	}
	t.Logf("%d of %d random reads looked sequential; %d prefetches", sequential, reads, len(got()))
	if sequential > reads/1000 {
		t.Errorf("%d of %d random reads looked sequential, want at most 0.1%%", sequential, reads)
	}
}
