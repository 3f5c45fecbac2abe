package e2e

import (
	"bytes"
	"os"
	"slices"
	"testing"
)

// partialFlipOff is the byte of the big file that TestFlipInPartialPiece
// reads and then damages in the cache: in block 5 of its piece, in
// neither the block's first page nor its last.
const partialFlipOff = 250<<20 + 5*blkSize + 20000

// TestFlipInPartialPiece reads one page of the big file, which caches the
// 64 KiB block that holds it as a partial piece (a .blocks file), stops the
// mount cleanly so that the block is recorded, and flips a byte of that
// block in the .blocks file. A new mount, with the origin up, reads the
// page and the whole block right: the damaged block is dropped and fetched
// again, never served.
func TestFlipInPartialPiece(t *testing.T) {
	m := loadManifest(t)
	if !m.HasBlocks() {
		t.Fatalf("the shared publication is version %d, want blocks", m.Version)
	}
	target := spanAt(t, fileSpans(t, m, fx.tree.big), partialFlipOff)
	if target.length != target.piece.Size {
		t.Fatalf("the big file's extent at %d is %d bytes of a piece of %d", target.start, target.length, target.piece.Size)
	}
	inPiece := int64(partialFlipOff) - target.start
	block := int(inPiece / blkSize)
	blockStart := target.start + int64(block)*blkSize
	page := int64(partialFlipOff) &^ (blkPage - 1)
	want := sourceRange(t, fx.tree.big, target.start, target.length)
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()

	mnt := startMount(t, origin.URL(), cache)
	f := blkOpen(t, mnt.dir, fx.tree.big)
	blkExpectBytes(t, f, page, want[page-target.start:][:blkPage])
	f.Close()
	mnt.Stop(t) // commits what was fetched

	partial := cachedPiecePath(cache, target.piece.Digest) + blocksSuffix
	rec, ok := blkPartials(t, cache)[target.piece.Digest]
	if !ok || !slices.Contains(rec.blocks, block) {
		t.Fatalf("after a read in block %d of piece %s and a clean stop, the cache does not record that block (recorded: %v, %v)", block, target.piece.Digest, ok, rec.blocks)
	}
	if _, err := os.Stat(cachedPiecePath(cache, target.piece.Digest)); err == nil {
		t.Errorf("piece %s is complete in the cache after one page was read of it", target.piece.Digest)
	}
	blkCheckPartialFile(t, partial, want, rec.blocks)
	dmgFlipByte(t, partial, inPiece)

	url := dmgPieceURL(target.piece.Digest)
	before := origin.Gets(url)
	mnt = startMount(t, origin.URL(), cache)
	f = blkOpen(t, mnt.dir, fx.tree.big)
	blkExpectBytes(t, f, page, want[page-target.start:][:blkPage])
	blkExpectBytes(t, f, blockStart, want[blockStart-target.start:][:blkSize])
	f.Close()
	if got := origin.Gets(url) - before; got < 1 {
		t.Errorf("piece %s was not fetched again after a byte of its recorded block %d was flipped in %s", target.piece.Digest, block, partial)
	}
	if bytes.Contains(mnt.Stderr(), []byte("level=warning")) {
		t.Logf("the mount warned:\n%s", mnt.stderrTail())
	}
	mnt.Stop(t)

	checkDBIntegrity(t, cache)
	checkRecordedPieces(t, cache)
	if rec, ok := blkPartials(t, cache)[target.piece.Digest]; ok {
		blkCheckPartialFile(t, partial, want, rec.blocks)
		t.Logf("after the second mount, piece %s has blocks %v recorded", target.piece.Digest, rec.blocks)
	}
}
