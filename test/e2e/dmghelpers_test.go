package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// The part of the big file every damage test caches first: six pieces, so
// the one damaged (the piece at dmgTargetOff) has cached pieces on both
// sides, and the kernel's readahead past any of them stays in the cache.
const (
	dmgFrom      = 10 << 20
	dmgLen       = 6 << 20
	dmgTargetOff = 12 << 20
)

// dmgPieces are the big file's pieces a damage test looks at: the one it
// damages and its two cached neighbours.
type dmgPieces struct {
	target     span
	neighbours []span
}

func dmgBigPieces(t *testing.T) dmgPieces {
	t.Helper()
	spans := fileSpans(t, loadManifest(t), fx.tree.big)
	return dmgPieces{
		target:     spanAt(t, spans, dmgTargetOff),
		neighbours: []span{spanAt(t, spans, dmgTargetOff-pieceSize), spanAt(t, spans, dmgTargetOff+pieceSize)},
	}
}

// dmgPieceURL is the origin path a piece is fetched from.
func dmgPieceURL(d meta.Digest) string { return "/" + meta.PiecePath(d) }

// dmgPopulate fills a new cache directory by reading through a mount of
// origin, stops the mount, and checks that the pieces the damage tests
// look at are recorded complete, so that what follows starts from a cache
// known to hold them.
func dmgPopulate(t *testing.T, origin *countingOrigin) string {
	t.Helper()
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache)
	expectRange(t, m.dir, fx.tree.big, dmgFrom, dmgLen)
	compareHashes(t, m.dir, fx.tree.small[:5])
	m.Stop(t)
	recorded := recordedPieces(t, cache)
	p := dmgBigPieces(t)
	for _, s := range append([]span{p.target}, p.neighbours...) {
		if _, ok := recorded[s.piece.Digest]; !ok {
			t.Fatalf("after reading [%d, +%d) of %s, piece %s (at %d) is not recorded complete: nothing to damage",
				dmgFrom, dmgLen, fx.tree.big, s.piece.Digest, s.start)
		}
	}
	return cache
}

// dmgFlipByte inverts the byte at off of the file at path.
func dmgFlipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("read byte %d of %s: %v", off, path, err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatalf("write byte %d of %s: %v", off, path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// dmgGarbage overwrites the file at path with as many random bytes.
func dmgGarbage(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, fi.Size())
	_, _ = rand.Read(b) // never fails
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// dmgCheckNoStrays checks, on a cache no mount is using, that there is no
// .part file, that every piece file is recorded complete and every .blocks
// file recorded partial, and that the recorded partial blocks hold the
// shared publication's bytes: a file the database does not know would be a
// piece a later mount trusts by accident.
func dmgCheckNoStrays(t *testing.T, cache string) {
	t.Helper()
	checkNoStrays(t, cache, fx.out)
}

// checkNoStrays is dmgCheckNoStrays for a cache of the publication in out
// (a publish output).
func checkNoStrays(t *testing.T, cache, out string) {
	t.Helper()
	complete, parts := cacheFiles(cache)
	if len(parts) > 0 {
		t.Errorf(".part files left in the cache: %q", firstN(parts))
	}
	recorded := recordedPieces(t, cache)
	var strays []string
	for _, p := range complete {
		d, err := meta.ParseHex(filepath.Base(p))
		if _, ok := recorded[d]; err != nil || !ok {
			strays = append(strays, p)
		}
	}
	if len(strays) > 0 {
		t.Errorf("%d piece files the database does not record: %q", len(strays), firstN(strays))
	}
	partials := checkPartialPieces(t, cache, out)
	strays = strays[:0]
	for _, p := range blkPartialFiles(cache) {
		d, err := meta.ParseHex(strings.TrimSuffix(filepath.Base(p), blocksSuffix))
		if _, ok := partials[d]; err != nil || !ok {
			strays = append(strays, p)
		}
	}
	if len(strays) > 0 {
		t.Errorf("%d .blocks files the database does not record partial: %q", len(strays), firstN(strays))
	}
}

// dmgCheckPieceFile checks that the cache's file for a piece, if there is
// one, holds the piece's bytes.
func dmgCheckPieceFile(t *testing.T, cache string, p meta.Piece) {
	t.Helper()
	b, err := os.ReadFile(cachedPiecePath(cache, p.Digest))
	switch {
	case errors.Is(err, os.ErrNotExist):
		t.Logf("piece %s has no file in the cache after the mount stopped", p.Digest)
	case err != nil:
		t.Error(err)
	case int64(len(b)) != p.Size || meta.Sum(b) != p.Digest:
		t.Errorf("piece %s: the cache's file has %d bytes hashing to %s, want %d bytes", p.Digest, len(b), meta.Sum(b), p.Size)
	}
}

// dmgErrorLogged reports whether a mount's stderr holds a log line at level
// error (logrus's text format, which the mount uses on a pipe).
func dmgErrorLogged(stderr []byte) bool { return bytes.Contains(stderr, []byte("level=error")) }
