package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// flipOff is where in the big file TestFlipAfterRead damages its piece: in
// the middle of a piece, away from the damage tests' pieces.
const flipOff = 40<<20 + pieceSize/2 + 1234

// TestFlipAfterRead flips a byte of a cached complete piece's file under
// a running mount, after the mount has read that piece from its disk tier:
// the next read of the byte's page returns the source's bytes, the piece
// fetched again, and never the flipped byte. Before every disk read was
// checked, a process trusted a piece it had hashed once and served the
// flip until it restarted.
//
// The memory tier is off and each read first drops the kernel's cached
// pages of its range, so that every read reaches the disk tier.
func TestFlipAfterRead(t *testing.T) {
	target := spanAt(t, fileSpans(t, loadManifest(t), fx.tree.big), flipOff)
	url := dmgPieceURL(target.piece.Digest)
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache, "--memory-cache", "0")
	f, err := os.Open(filepath.Join(m.dir, fx.tree.big))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := int64(flipOff) &^ 4095

	// A read of one page would fetch and keep only its block, in a
	// partial piece (TestFlipInPartialPiece damages one of those): read
	// the whole piece, so that it is fetched and stored complete, in the
	// background.
	piecePath := cachedPiecePath(cache, target.piece.Digest)
	boundReadBig(t, f, target.start, target.length)
	flipWaitServedFromDisk(t, m, piecePath, f, page)

	dmgFlipByte(t, piecePath, flipOff-target.start)
	before := origin.Gets(url)
	boundReadBig(t, f, page, 4096) // fails the test if a byte differs from the source
	if got := origin.Gets(url) - before; got < 1 {
		t.Errorf("piece %s was not fetched again after a byte of its cache file was flipped (%d GETs)", target.piece.Digest, got)
	}
	if !bytes.Contains(m.Stderr(), []byte("dropped to be fetched again")) {
		t.Errorf("no warning about the damaged piece in the mount's log:\n%s", m.stderrTail())
	}
	boundReadBig(t, f, target.start, target.length)

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m.Stop(t)
	checkDBIntegrity(t, cache)
	checkRecordedPieces(t, cache)
	dmgCheckPieceFile(t, cache, target.piece)
	dmgCheckNoStrays(t, cache)
}

// flipWaitServedFromDisk reads the page at off of f until the mount has
// read it from the piece file at path: the store keeps a file it read from
// open, so the file is then among the mount's open files. Until the piece
// is stored, reads are served by the fetcher, from the network or from the
// bytes it holds until they are stored.
func flipWaitServedFromDisk(t *testing.T, m *mount, path string, f *os.File, off int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		boundReadBig(t, f, off, 4096)
		if flipHasOpen(t, m.PID(), path) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s of reads, the mount has still not read %s from its cache", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flipHasOpen reports whether process pid has the file at path open.
func flipHasOpen(t *testing.T, pid int, path string) bool {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list the mount's open files: %v", err)
	}
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && target == path {
			return true
		}
	}
	return false
}
