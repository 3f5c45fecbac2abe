package e2e

import "testing"

// TestTreeMatchesSource compares the whole mounted tree with its source
// with a cold cache, with the warm cache that read left behind, and with
// the memory tier off.
func TestTreeMatchesSource(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	shared := t.TempDir()
	coldDone := false

	t.Run("cold", func(t *testing.T) {
		m := startMount(t, origin.URL(), shared)
		runChecks(t, m.dir, treeChecks)
		m.Stop(t)
		t.Logf("%d piece GETs asked for %s", origin.PieceGets(), boundMiB(origin.PieceBytes()))
		// Kernel re-reads after page-cache eviction must come from the
		// disk tier, and concurrent readers and prefetches must share one
		// fetch: a piece may come in several ranged GETs, but no byte of
		// it twice.
		if again := origin.Refetched(); len(again) > 0 {
			t.Errorf("pieces with bytes fetched more than once with a healthy origin (path: bytes asked for again): %v", again)
		}
		coldDone = !t.Failed()
	})

	t.Run("warm", func(t *testing.T) {
		if !coldDone {
			t.Skip("needs a cache filled by a successful cold run")
		}
		before := origin.PieceGets()
		m := startMount(t, origin.URL(), shared)
		runChecks(t, m.dir, treeChecks)
		m.Stop(t)
		if got := origin.PieceGets() - before; got != 0 {
			t.Errorf("warm cache: %d piece GETs reading the whole tree again, want 0", got)
		}
	})

	t.Run("memory-cache-0", func(t *testing.T) {
		m := startMount(t, origin.URL(), t.TempDir(), "--memory-cache", "0")
		runChecks(t, m.dir, treeChecks)
		m.Stop(t)
	})
}
