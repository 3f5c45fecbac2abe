package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRemountAfterTagMoves: a remount of a tag reads the manifest the cache
// last resolved it to while it asks the origin; when the origin has moved
// the tag to a new version meanwhile, the mount must be of the new one, and
// with the origin gone, of the last one it resolved.
func TestRemountAfterTagMoves(t *testing.T) {
	out, cache := t.TempDir(), t.TempDir()
	version := func(content string) (digest, src string) {
		t.Helper()
		src = t.TempDir()
		if err := os.WriteFile(filepath.Join(src, "which"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := publish(fx.bin, src, out, "--tag", "moving")
		if err != nil {
			t.Fatal(err)
		}
		return d, src
	}
	check := func(m *mount, digest, content string) {
		t.Helper()
		if m.digest != digest {
			t.Errorf("mounted %s, want %s", m.digest, digest)
		}
		got, err := os.ReadFile(filepath.Join(m.dir, "which"))
		if err != nil || string(got) != content {
			t.Errorf("which = %q, %v; want %q", got, err, content)
		}
	}
	origin := newCountingOrigin(t, out)
	d1, _ := version("one")
	m := startMount(t, origin.URL(), cache, "--tag", "moving")
	check(m, d1, "one")
	m.Stop(t)

	d2, _ := version("two")
	m = startMount(t, origin.URL(), cache, "--tag", "moving")
	check(m, d2, "two")
	m.Stop(t)

	m = startMount(t, origin.URL(), cache, "--tag", "moving") // unchanged: from the cache's decode
	check(m, d2, "two")
	m.Stop(t)

	origin.Stop()
	m = startMount(t, origin.URL(), cache, "--tag", "moving")
	check(m, d2, "two")
	m.Stop(t)
}
