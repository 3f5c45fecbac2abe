package piece

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// recorder is a readahead whose fetches only record the piece index and
// block until released, so a test sees exactly what was prefetched.
func recorder(window int) (*readahead, func() []int, func()) {
	var mu sync.Mutex
	var got []int
	release := make(chan struct{})
	ra := newReadahead(window, func(ctx context.Context, i int) {
		mu.Lock()
		got = append(got, i)
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
