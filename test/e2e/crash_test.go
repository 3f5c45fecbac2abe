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
	// A dozen pieces' worth of bytes arrive, whether as whole pieces or
	// as ranges of them; after that every piece GET sends half of what it
	// was asked for and hangs, so the kill finds fetches in flight for
	// certain.
	const served = 12 * pieceSize
	origin.StallAfterBytes(served)
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache)
	reader := startProc(t, "sh", "-c", `exec cat "$1" > /dev/null`, "sh", filepath.Join(m.dir, fx.tree.big))
	waitFor(t, 60*time.Second, "a stalled piece GET and 8 pieces' worth of piece files", func() bool {
		return origin.Stalled() > 0 && crashPieceBytes(cache) >= 8*pieceSize
	})
	complete, parts := cacheFiles(cache)
	t.Logf("killing with %d complete, %d .part and %d .blocks piece files (%s), %d piece GETs (%s asked for), %d stalled",
		len(complete), len(parts), len(blkPartialFiles(cache)), boundMiB(crashPieceBytes(cache)),
		origin.PieceGets(), boundMiB(origin.PieceBytes()), origin.Stalled())
	m.Kill(t)
	if !reader.wait(30 * time.Second) {
		t.Errorf("cat of the big file still running 30s after its mount was killed")
	}
	unmount(t, m.dir)

	_, parts = cacheFiles(cache)
	t.Logf("after the kill: %d .part files, %d .blocks files", len(parts), len(blkPartialFiles(cache)))
	checkDBIntegrity(t, cache)
	n := checkRecordedPieces(t, cache)
	partials := checkPartialPieces(t, cache, fx.out)
	if c, p := recordedBytes(t, cache); c+p == 0 {
		t.Errorf("nothing recorded, complete or partial, though %s of pieces were served whole: the checks above proved nothing", boundMiB(served))
	} else {
		t.Logf("after the kill: %d pieces recorded complete (%s), %d partial with %s in recorded blocks", n, boundMiB(c), len(partials), boundMiB(p))
	}
	spoilCache(t, cache)

	origin.StallAfterBytes(-1)
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
	dmgCheckNoStrays(t, cache)
}

// crashPieceBytes is what the piece files of a live mount's cache hold:
// complete and .part files by size, .blocks files by what is allocated to
// them (see boundDirBytes).
func crashPieceBytes(cache string) int64 { return boundDirBytes(filepath.Join(cache, piecesDir)) }

// spoilCache does to a cache what a crash or a careless user may: a stray
// .part file with garbage, a stray .blocks file with garbage that no
// partial record names, a recorded piece whose file is gone, and one whose
// file is cut short. A mount must start and read right regardless.
func spoilCache(t *testing.T, cache string) {
	t.Helper()
	spans := fileSpans(t, loadManifest(t), fx.tree.big)
	partials := blkPartials(t, cache)
	for i, s := range spans[len(spans)-2:] {
		stray := cachedPiecePath(cache, s.piece.Digest) + []string{partSuffix, blocksSuffix}[i]
		if _, ok := partials[s.piece.Digest]; ok {
			t.Fatalf("piece %s at the big file's end is recorded partial: no stray file can be planted for it", s.piece.Digest)
		}
		if err := os.MkdirAll(filepath.Dir(stray), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(stray, []byte("not the piece"), 0o644); err != nil {
			t.Fatal(err)
		}
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
