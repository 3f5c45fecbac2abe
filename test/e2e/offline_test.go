package e2e

import (
	"strings"
	"testing"
)

// TestOffline checks that what was read once stays readable with the
// origin gone, that what was not fails with EIO instead of hanging, and
// that a mount with nothing cached refuses to start.
func TestOffline(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()
	small := fx.tree.small[0]

	m := startMount(t, origin.URL(), cache)
	compareHashes(t, m.dir, []string{small})
	// 8 MiB, more than the 4 MiB checked offline, so the kernel's
	// readahead past 4 MiB offline finds its pieces cached too.
	expectRange(t, m.dir, fx.tree.big, 0, 8<<20)
	m.Stop(t)
	origin.Stop()

	t.Run("cached", func(t *testing.T) {
		m := startMount(t, origin.URL(), cache)
		if want := fx.digest; m.digest != want {
			t.Errorf("offline mount of the default tag: digest %s, want %s", m.digest, want)
		}
		compareHashes(t, m.dir, []string{small})
		expectRange(t, m.dir, fx.tree.big, 0, 4<<20)
		expectEIO(t, m.dir, fx.tree.big, 200<<20, 4096)
		// A failed read must not break the mount.
		compareHashes(t, m.dir, []string{small})
		m.Stop(t)
	})

	t.Run("empty-cache", func(t *testing.T) {
		stderr := mountFails(t, origin.URL(), t.TempDir())
		if host := strings.TrimPrefix(origin.URL(), "http://"); !strings.Contains(stderr, host) {
			t.Errorf("the error does not name the origin %s:\n%s", host, tail([]byte(stderr)))
		}
	})
}
