package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// tamperAt is where in its block the tampered byte is: in neither the
// block's first page nor its last.
const tamperAt = 40000

// TestTamperedBlockFailsOnlyItsBlock flips one byte of one 64 KiB block of
// a piece in the origin's copy of a publication. A cold mount reads the
// piece block by block with the kernel's readahead out of the way: every
// read inside the tampered block fails with EIO, every other block of the
// piece, before and after it, reads right, and so does the rest of the
// file. It does so for three orders of reading the piece's blocks: front
// to back (the mount's own readahead then fetches runs of blocks that hold
// the tampered one, which must fail alone), back to front, and the
// tampered block first.
//
// Afterwards the piece is not cached complete, no recorded block holds
// other bytes than the piece's, the tampered block is not recorded, and
// every piece was fetched with Range requests.
func TestTamperedBlockFailsOnlyItsBlock(t *testing.T) {
	requireFUSE(t)
	const rel = "f.bin"
	content := blkBytes(1, 5<<20+12345) // six pieces of 1 MiB, the last short
	pub := blkPublish(t, map[string][]byte{rel: content, "note.txt": []byte("next to the file\n")}, "--piece-size", "1MiB")
	spans := fileSpans(t, pub.m, rel)
	target := spans[2]
	const bad = 6 // the tampered block of target
	nblocks := meta.NumBlocks(target.piece.Size, blkSize)
	if target.start%blkSize != 0 || nblocks < bad+4 {
		t.Fatalf("piece %s: %d blocks at file offset %d, want at least %d from a block boundary", target.piece.Digest, nblocks, target.start, bad+4)
	}
	dmgFlipByte(t, filepath.Join(pub.out, filepath.FromSlash(meta.PiecePath(target.piece.Digest))), bad*blkSize+tamperAt)

	orders := map[string][]int{"forward": nil, "backward": nil, "tampered first": {bad}}
	for k := range nblocks {
		orders["forward"] = append(orders["forward"], k)
		orders["backward"] = append([]int{k}, orders["backward"]...)
		if k != bad {
			orders["tampered first"] = append(orders["tampered first"], k)
		}
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			tamperRead(t, pub, rel, target, bad, order)
		})
	}
}

// tamperRead mounts pub cold and reads the blocks of target in order, then
// the whole file but the tampered block bad, then checks what was fetched
// and what was cached.
func tamperRead(t *testing.T, pub *blkPub, rel string, target span, bad int, order []int) {
	content := pub.files[rel]
	origin := newBlkOrigin(t, pub.out)
	cache := t.TempDir()
	// Two attempts rather than four: a tampered block fails every attempt,
	// and each costs a backoff.
	m := startMount(t, origin.URL(), cache, "--attempts", "2")
	f := blkOpen(t, m.dir, rel)

	badStart := target.start + int64(bad)*blkSize
	for _, k := range order {
		off := target.start + int64(k)*blkSize
		if k != bad {
			blkExpectBytes(t, f, off, content[off:off+blkPage])
			mid := off + blkSize/2 // a second page, once the block's first one is in
			blkExpectBytes(t, f, mid, content[mid:mid+blkPage])
			continue
		}
		// The page that holds the flipped byte, the block's first and its last.
		for _, p := range []int64{tamperAt &^ (blkPage - 1), 0, blkSize - blkPage} {
			blkExpectEIO(t, f, off+p, blkPage)
		}
	}

	// The whole file in 64 KiB reads, front to back, but the tampered block.
	for off := int64(0); off < int64(len(content)); off += blkSize {
		if off == badStart {
			continue
		}
		end := min(off+blkSize, int64(len(content)))
		blkExpectBytes(t, f, off, content[off:end])
	}
	// Still failing: a failed block is not remembered as good bytes.
	blkExpectEIO(t, f, badStart+blkSize/2, blkPage)
	compareBlkHashes(t, m.dir, pub, []string{"note.txt"})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m.Stop(t)

	tamperCheckRequests(t, origin, target.piece.Digest)
	if _, ok := recordedPieces(t, cache)[target.piece.Digest]; ok {
		t.Errorf("the tampered piece %s is recorded complete", target.piece.Digest)
	}
	if _, err := os.Stat(cachedPiecePath(cache, target.piece.Digest)); err == nil {
		t.Errorf("the tampered piece %s has a complete file in the cache", target.piece.Digest)
	}
	checkRecordedPieces(t, cache)
	partials := blkCheckPartials(t, cache, pub.pieces(t))
	if p, ok := partials[target.piece.Digest]; ok && slices.Contains(p.blocks, bad) {
		t.Errorf("the tampered block %d of piece %s is recorded in the cache (blocks %v)", bad, target.piece.Digest, p.blocks)
	}
	t.Logf("piece %s: blocks %v recorded partial", target.piece.Digest, partials[target.piece.Digest].blocks)
}

// tamperCheckRequests checks that every Range request was answered 206 and
// every plain GET (a prefetch of a whole piece, which needs no Range) 200,
// and that the tampered piece's blocks were asked for with Range requests.
func tamperCheckRequests(t *testing.T, origin *blkOrigin, d meta.Digest) {
	t.Helper()
	reqs := origin.PieceRequests()
	url := dmgPieceURL(d)
	var whole, ranged, tampered int
	for _, r := range reqs {
		switch {
		case r.rangeHeader == "" && r.status == http.StatusOK:
			whole++
		case r.rangeHeader != "" && r.status == http.StatusPartialContent:
			ranged++
			if r.path == url {
				tampered++
			}
		default:
			t.Errorf("GET %s with Range %q answered %d", r.path, r.rangeHeader, r.status)
		}
	}
	if tampered == 0 {
		t.Errorf("the tampered piece %s was never asked for with a Range request", d)
	}
	t.Logf("%d piece requests: %d ranged (%d of the tampered piece), %d of whole pieces", len(reqs), ranged, tampered, whole)
}

// compareBlkHashes compares the sha256 of files of pub on the mount with
// their sources'.
func compareBlkHashes(t *testing.T, mnt string, pub *blkPub, names []string) {
	t.Helper()
	got := sha256sums(t, mnt, names...)
	for _, name := range names {
		if want := meta.Sum(pub.files[name]).Hex(); got[name] != want {
			t.Errorf("sha256 of %s: got %q, want %s", name, got[name], want)
		}
	}
}
