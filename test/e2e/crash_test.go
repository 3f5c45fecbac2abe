package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// TestCrashMidRead kills a mount with SIGKILL while pieces are in flight
// and checks that the cache it leaves is consistent and that a new mount
// on it cleans up and serves the right bytes.
func TestCrashMidRead(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	// A dozen pieces arrive; after that every piece GET sends half its
	// body and hangs, so the kill finds fetches in flight for certain.
	origin.StallAfter(12)
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache)
	reader := startProc(t, "sh", "-c", `exec cat "$1" > /dev/null`, "sh", filepath.Join(m.dir, fx.tree.big))
	waitFor(t, 60*time.Second, "a stalled piece GET and 8 complete piece files", func() bool {
		complete, _ := cacheFiles(cache)
		return origin.Stalled() > 0 && len(complete) >= 8
	})
	complete, parts := cacheFiles(cache)
	t.Logf("killing with %d complete and %d .part piece files, %d piece GETs, %d stalled",
		len(complete), len(parts), origin.PieceGets(), origin.Stalled())
	m.Kill(t)
	if !reader.wait(30 * time.Second) {
		t.Errorf("cat of the big file still running 30s after its mount was killed")
	}
	unmount(t, m.dir)

	_, parts = cacheFiles(cache)
	t.Logf("after the kill: %d .part files", len(parts))
	if n := checkRecordedPieces(t, cache); n == 0 {
		t.Errorf("no piece recorded complete, though 12 were served whole: the check above proved nothing")
	}
	spoilCache(t, cache)

	origin.StallAfter(-1)
	m = startMountAt(t, m.dir, origin.URL(), cache)
	if _, parts := cacheFiles(cache); len(parts) > 0 {
		t.Errorf("after a new mount started, .part files remain: %q", parts)
	}
	compareHashes(t, m.dir, []string{fx.tree.big})
	m.Stop(t)

	want := len(distinctPieces(fileSpans(t, loadManifest(t), fx.tree.big)))
	if got := checkRecordedPieces(t, cache); got < want {
		t.Errorf("after reading the big file through: %d pieces recorded complete, want at least its %d", got, want)
	}
}

// spoilCache does to a cache what a crash or a careless user may: a stray
// .part file with garbage, a recorded piece whose file is gone, and one
// whose file is cut short. A mount must start and read right regardless.
func spoilCache(t *testing.T, cache string) {
	t.Helper()
	spans := fileSpans(t, loadManifest(t), fx.tree.big)
	last := spans[len(spans)-1].piece.Digest
	stray := cachedPiecePath(cache, last) + partSuffix
	if err := os.MkdirAll(filepath.Dir(stray), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stray, []byte("not the piece"), 0o644); err != nil {
		t.Fatal(err)
	}
	var recorded []meta.Digest
	for d := range recordedPieces(t, cache) {
		recorded = append(recorded, d)
	}
	if len(recorded) < 2 {
		t.Logf("only %d recorded pieces: no missing or short piece file planted", len(recorded))
		return
	}
	if err := os.Remove(cachedPiecePath(cache, recorded[0])); err != nil {
		t.Fatal(err)
	}
	p := cachedPiecePath(cache, recorded[1])
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

func distinctPieces(spans []span) map[meta.Digest]bool {
	set := map[meta.Digest]bool{}
	for _, s := range spans {
		set[s.piece.Digest] = true
	}
	return set
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
