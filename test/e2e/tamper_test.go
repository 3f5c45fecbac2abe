package e2e

import (
	"os"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// TestTamperedPiece serves one piece of the big file with flipped bytes:
// reads of it fail with EIO, reads around it succeed, and the bad bytes
// never reach the cache.
func TestTamperedPiece(t *testing.T) {
	bad := spanAt(t, fileSpans(t, loadManifest(t), fx.tree.big), 100<<20+5)
	badPath := "/" + meta.PiecePath(bad.piece.Digest)
	origin := newCountingOrigin(t, fx.out)
	origin.Corrupt(badPath)
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache)

	expectEIO(t, m.dir, fx.tree.big, bad.start+bad.length/2, 4096)
	// Far enough from the bad piece that the kernel's readahead, which
	// would fail the whole request, stays out of it.
	expectRange(t, m.dir, fx.tree.big, bad.start-2<<20, 64<<10)
	expectRange(t, m.dir, fx.tree.big, bad.start+bad.length+64<<10, 64<<10)
	// Still bad: a failure must not be remembered as good bytes.
	expectEIO(t, m.dir, fx.tree.big, bad.start, 4096)
	compareHashes(t, m.dir, fx.tree.small[:3])
	m.Stop(t)

	if origin.Gets(badPath) == 0 {
		t.Fatalf("the tampered piece %s was never requested", badPath)
	}
	if _, ok := recordedPieces(t, cache)[bad.piece.Digest]; ok {
		t.Errorf("the tampered piece %s is recorded complete in the cache", bad.piece.Digest)
	}
	if _, err := os.Stat(cachedPiecePath(cache, bad.piece.Digest)); err == nil {
		t.Errorf("the tampered piece %s has a file in the cache", bad.piece.Digest)
	}
}
