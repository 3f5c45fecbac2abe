package e2e

import (
	"path/filepath"
	"syscall"
	"testing"
)

// TestCleanShutdown stops a mount each way a user may and checks it exits
// 0, leaves no mount and no .part file, and leaves a cache database that
// another process can open and that passes bbolt's check.
func TestCleanShutdown(t *testing.T) {
	stops := map[string]func(t *testing.T, m *mount){
		"SIGTERM": func(t *testing.T, m *mount) { m.signal(syscall.SIGTERM) },
		"SIGINT":  func(t *testing.T, m *mount) { m.signal(syscall.SIGINT) },
		"umount":  func(t *testing.T, m *mount) { mustRun(t, "", "umount", m.dir) },
	}
	origin := newCountingOrigin(t, fx.out)
	for how, stop := range stops {
		t.Run(how, func(t *testing.T) {
			cache := t.TempDir()
			m := startMount(t, origin.URL(), cache)
			compareHashes(t, m.dir, fx.tree.small[10:20])
			expectRange(t, m.dir, fx.tree.big, 50<<20, 3<<20)
			stop(t, m)
			m.expectCleanExit(t, how)
			checkCleanCache(t, cache)
		})
	}
	t.Run("new-cache-dir", func(t *testing.T) {
		cache := filepath.Join(t.TempDir(), "does", "not", "exist")
		m := startMount(t, origin.URL(), cache)
		compareHashes(t, m.dir, fx.tree.small[10:20])
		m.Stop(t)
		checkCleanCache(t, cache)
	})
}

// checkCleanCache checks the cache a clean shutdown leaves.
func checkCleanCache(t *testing.T, cache string) {
	t.Helper()
	if _, parts := cacheFiles(cache); len(parts) > 0 {
		t.Errorf(".part files left after a clean shutdown: %q", parts)
	}
	checkDBIntegrity(t, cache)
	if n := checkRecordedPieces(t, cache); n == 0 {
		t.Errorf("nothing recorded complete after reading")
	}
}
