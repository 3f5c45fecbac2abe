package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// TestPartsOutOfOrder writes blocks of one piece out of order through two
// Parts at once, reads what is there, then completes the piece with a
// third.
func TestPartsOutOfOrder(t *testing.T) {
	data, p := partData(1, 5) // blocks 0-3 whole, 4 short
	s := openT(t, t.TempDir(), Options{})
	var wg sync.WaitGroup
	for _, ks := range [][]int{{3, 0}, {4, 1}} {
		w := createPartT(t, s, p)
		wg.Go(func() {
			for _, k := range ks {
				off, b := block(data, k)
				if _, err := w.WriteAt(b, off); err != nil {
					t.Errorf("WriteAt(block %d): %v", k, err)
				}
			}
			if err := w.Commit(); err != nil {
				t.Errorf("Commit: %v", err)
			}
		})
	}
	wg.Wait()
	checkServed(t, s, p, data, 0, 1, 3, 4)
	if s.Has(p.Digest) {
		t.Error("Has = true for a piece missing a block")
	}
	if _, err := s.Load(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a partial piece = %v, want a miss", err)
	}
	if h, ok := recordedPartial(t, s, p.Digest); !ok || !equalInts(blocksOf(h), []int{0, 1, 3, 4}) {
		t.Errorf("partial record = %v, want blocks 0, 1, 3, 4", h)
	}
	if got, want := s.Bytes(), int64(3*bs+bs-1000); got != want {
		t.Errorf("Bytes = %d, want %d (the recorded blocks)", got, want)
	}
	checkRanges(t, s, p, data)
	checkConsistent(t, s)

	commitBlocksT(t, s, p, data, 2)
	checkComplete(t, s, p.Digest, data)
	if _, ok := recordedPartial(t, s, p.Digest); ok {
		t.Error("partial record left beside the complete piece")
	}
	if _, err := os.Stat(s.partialPath(p.Digest)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("partial file after completion: %v, want it renamed", err)
	}
	if b, err := s.Load(p); err != nil || !bytes.Equal(b, data) {
		t.Errorf("Load = %v; want the piece", err)
	}
	if got := s.Bytes(); got != p.Size {
		t.Errorf("Bytes = %d, want %d", got, p.Size)
	}
	checkConsistent(t, s)
}

// checkRanges reads ranges across blocks 0, 1 (present) and 2 (absent) of
// a piece with blocks 0, 1, 3 and 4 recorded.
func checkRanges(t *testing.T, s *Store, p meta.Piece, data []byte) {
	t.Helper()
	for _, r := range []struct {
		off, n int
		ok     bool
	}{
		{0, 2 * bs, true},
		{100, 4096, true},
		{bs - 10, 20, true},              // across the boundary of 0 and 1
		{2*bs - 10, 20, false},           // into block 2
		{3 * bs, len(data) - 3*bs, true}, // blocks 3 and 4, to the end
		{len(data) - 10, 100, true},      // past the end: clamped
		{0, len(data), false},
	} {
		b := make([]byte, r.n)
		n, err := s.ReadAt(p, b, int64(r.off))
		if !r.ok {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ReadAt(%d, %d) = %v, want a miss", r.off, r.n, err)
			}
			continue
		}
		want := data[r.off:min(r.off+r.n, len(data))]
		if (err != nil && err != io.EOF) || !bytes.Equal(b[:n], want) {
			t.Errorf("ReadAt(%d, %d) = %d, %v; want the piece's bytes", r.off, r.n, n, err)
		}
		if !s.Present(p, int64(r.off), int64(r.n)) {
			t.Errorf("Present(%d, %d) = false", r.off, r.n)
		}
	}
}

// TestPartAlone commits a whole piece through one Part, as a fetch of a
// whole piece does: the same durability steps as a Writer, no partial
// record, the same outcome.
func TestPartAlone(t *testing.T) {
	data, p := partData(2, 3)
	var got []string
	s := openT(t, t.TempDir(), Options{faultHook: func(step string) error {
		got = append(got, step)
		return nil
	}})
	w := createPartT(t, s, p)
	if n, err := w.WriteAt(data, 0); err != nil || n != len(data) {
		t.Fatalf("WriteAt(all) = %d, %v", n, err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	want := []string{stepWrite, stepFsync, stepRename, stepDirsync, stepCommit}
	if !equalStrings(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	checkComplete(t, s, p.Digest, data)
	checkConsistent(t, s)
	if err := w.Commit(); err != nil {
		t.Errorf("second Commit = %v, want the first's result", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit = %v", err)
	}
	// A Part of a complete piece writes nothing and commits.
	w = createPartT(t, s, p)
	writeBlocksT(t, w, data, 0)
	if err := w.Commit(); err != nil {
		t.Errorf("Commit of a complete piece = %v", err)
	}
	if _, err := os.Stat(s.partialPath(p.Digest)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("partial file of a complete piece: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPartRefusesBadWrites writes at offsets and lengths that are not
// whole blocks, or past the end.
func TestPartRefusesBadWrites(t *testing.T) {
	data, p := partData(3, 3)
	s := openT(t, t.TempDir(), Options{})
	w := createPartT(t, s, p)
	defer w.Abort()
	last := int64(2 * bs)
	for _, c := range []struct {
		off, n int64
	}{
		{1, bs},                   // offset inside a block
		{-bs, bs},                 // negative
		{0, bs - 1},               // short, not at the end
		{0, bs + 1},               // a block and a bit
		{last, p.Size - last + 1}, // past the end
		{3 * bs, bs},              // past the end
		{last, p.Size - last - 1}, // short of the end
	} {
		b := make([]byte, max(c.n, 0))
		if n, err := w.WriteAt(b, c.off); err == nil || n != 0 {
			t.Errorf("WriteAt(%d bytes at %d) = %d, %v; want an error", c.n, c.off, n, err)
		}
	}
	// The short last block, whole blocks, and nothing at all are fine.
	writeBlocksT(t, w, data, 2)
	if n, err := w.WriteAt(data[:2*bs], 0); err != nil || n != 2*bs {
		t.Errorf("WriteAt(two blocks) = %d, %v", n, err)
	}
	if _, err := w.WriteAt(nil, bs); err != nil {
		t.Errorf("WriteAt(nothing) = %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, s, p.Digest, data)
	if _, err := w.WriteAt(data[:bs], 0); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("WriteAt after Commit = %v, want fs.ErrClosed", err)
	}
}

// TestPartSizes checks that a piece held with one size is neither written
// nor read under another, partial or complete, nor under another block
// table while partial.
func TestPartSizes(t *testing.T) {
	data, p := partData(4, 3)
	p = withTable(p, data)
	s := openT(t, t.TempDir(), Options{})
	commitBlocksT(t, s, p, data, 0)
	other := p
	other.Size += bs
	if _, err := s.CreatePart(other); !errors.Is(err, ErrSize) {
		t.Errorf("CreatePart of another size = %v, want ErrSize", err)
	}
	b := make([]byte, 100)
	if _, err := s.ReadAt(other, b, 0); !errors.Is(err, ErrSize) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadAt of another size = %v, want ErrSize and fs.ErrNotExist", err)
	}
	if s.Present(other, 0, 100) {
		t.Error("Present of another size = true")
	}
	lying := p
	lying.Blocks = meta.Sum([]byte("another table"))
	if _, err := s.CreatePart(lying); !errors.Is(err, ErrOtherTable) {
		t.Errorf("CreatePart with another block table = %v, want ErrOtherTable", err)
	}
	if _, err := s.ReadAt(lying, b, 0); !errors.Is(err, ErrOtherTable) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadAt with another block table = %v, want ErrOtherTable and fs.ErrNotExist", err)
	}
	checkServed(t, s, p, data, 0)

	commitBlocksT(t, s, p, data, 1, 2)
	checkComplete(t, s, p.Digest, data)
	if _, err := s.CreatePart(other); !errors.Is(err, ErrSize) {
		t.Errorf("CreatePart of a complete piece's digest with another size = %v, want ErrSize", err)
	}
	if _, err := s.ReadAt(lying, b, 0); err != nil {
		t.Errorf("ReadAt of a complete piece under another table = %v; it hashed to its digest", err)
	}
}

// TestPartAbort forgets what an aborted Part wrote, and removes the file
// once nothing of it is recorded and no Part is open.
func TestPartAbort(t *testing.T) {
	data, p := partData(5, 4)
	s := openT(t, t.TempDir(), Options{})
	a, b := createPartT(t, s, p), createPartT(t, s, p)
	writeBlocksT(t, a, data, 0, 1)
	writeBlocksT(t, b, data, 2)
	if err := a.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.partialPath(p.Digest)); err != nil {
		t.Errorf("partial file removed while a Part is open: %v", err)
	}
	if err := a.Commit(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Commit after Abort = %v, want fs.ErrClosed", err)
	}
	if err := b.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := b.Abort(); err != nil {
		t.Errorf("second Abort = %v", err)
	}
	if got := files(t, s.Dir(), piecesDir); len(got) != 0 {
		t.Errorf("files after every Part aborted = %v, want none", got)
	}
	checkServed(t, s, p, data)

	// With a block recorded, an abort leaves it served and the rest not.
	commitBlocksT(t, s, p, data, 3)
	a = createPartT(t, s, p)
	writeBlocksT(t, a, data, 0, 1, 2)
	if err := a.Abort(); err != nil {
		t.Fatal(err)
	}
	checkServed(t, s, p, data, 3)
	checkConsistent(t, s)
}

// TestWriterSupersedesPart completes a piece through a Writer while a Part
// of it is open: the partial file and record go, and the Part's commit
// discards its blocks and succeeds.
func TestWriterSupersedesPart(t *testing.T) {
	data, p := partData(6, 3)
	s := openT(t, t.TempDir(), Options{})
	commitBlocksT(t, s, p, data, 1)
	w := createPartT(t, s, p)
	writeBlocksT(t, w, data, 0)
	putT(t, s, data)
	checkComplete(t, s, p.Digest, data)
	if _, ok := recordedPartial(t, s, p.Digest); ok {
		t.Error("partial record left beside the complete piece")
	}
	if err := w.Commit(); err != nil {
		t.Errorf("Commit after the piece was completed = %v, want nil", err)
	}
	checkComplete(t, s, p.Digest, data)
	checkConsistent(t, s)
	if got := s.Bytes(); got != p.Size {
		t.Errorf("Bytes = %d, want %d", got, p.Size)
	}
}

// TestPartWrongBlocks completes a piece without a block table from blocks
// of more than one Part that are not its own: the commit that would
// complete it hashes the file, fails with ErrCorrupt and drops the partial
// piece.
func TestPartWrongBlocks(t *testing.T) {
	data, p := partData(7, 3)
	wrong := content(8, len(data))
	s := openT(t, t.TempDir(), Options{})
	commitBlocksT(t, s, p, wrong, 0)
	w := createPartT(t, s, p)
	writeBlocksT(t, w, wrong, 1, 2)
	if err := w.Commit(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Commit = %v, want ErrCorrupt", err)
	}
	checkAbsent(t, s, p.Digest)
	checkServed(t, s, p, wrong)
	checkConsistent(t, s)
}

// TestPartTrustedOnTable completes pieces from blocks verified against a
// block table, in one Part and in several, without hashing them whole:
// one whose table describes other bytes than its digest (a lying
// manifest's) becomes complete, trusted on that table, and is served to
// readers that trust the same table (the bytes it vouches for, which its
// ranged reads served before the piece was complete), but never to a
// reader without a table or with another one, before or after a restart:
// for those the piece is hashed whole, fails, and is dropped.
func TestPartTrustedOnTable(t *testing.T) {
	data, p := partData(9, 3)
	wrong := content(10, len(data))
	lying := withTable(p, wrong)
	for _, c := range []struct {
		name   string
		parts  [][]int
		reader func(*testing.T, *Store) // the reader that does not trust the table
	}{
		{"one part, read without a table", [][]int{{0, 1, 2}}, func(t *testing.T, s *Store) {
			b := make([]byte, bs)
			n, err := s.ReadAt(p, b, bs)
			if err == nil || !errors.Is(err, ErrCorrupt) || !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ReadAt without the table = %d, %v; want ErrCorrupt and fs.ErrNotExist", n, err)
			}
			if bytes.Contains(b, wrong[bs:bs+100]) {
				t.Error("ReadAt without the table returned bytes of the lying table's piece")
			}
		}},
		{"parts, loaded with another table", [][]int{{0}, {2}, {1}}, func(t *testing.T, s *Store) {
			other := withTable(p, data)
			if b, err := s.Load(other); err == nil || !errors.Is(err, ErrCorrupt) || !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Load with another table = %d bytes, %v; want ErrCorrupt and fs.ErrNotExist", len(b), err)
			}
		}},
	} {
		for _, restart := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, restart %v", c.name, restart), func(t *testing.T) {
				dir := t.TempDir()
				s := openT(t, dir, Options{})
				for _, ks := range c.parts {
					commitBlocksT(t, s, lying, wrong, ks...)
				}
				if !s.Has(p.Digest) || recordedTable(t, s, p.Digest, p.Size) != lying.Blocks {
					t.Fatalf("the piece is not complete, trusted on its table")
				}
				checkServed(t, s, lying, wrong, 0, 1, 2)
				if b, err := s.Load(lying); err != nil || !bytes.Equal(b, wrong) {
					t.Errorf("Load with the table = %v; want the table's bytes", err)
				}
				if restart {
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					s = openT(t, dir, Options{})
					checkServed(t, s, lying, wrong, 0, 1, 2)
				}
				c.reader(t, s)
				checkAbsent(t, s, p.Digest)
				checkServed(t, s, lying, wrong)
				checkConsistent(t, s)
			})
		}
	}
}

// TestPartTableUpgraded checks that a piece trusted on its table, read by
// a reader without it and found to hash to its digest, is served to that
// reader and from then on trusted by everyone: in memory at once, and in
// bucket blocks once the checksums are written (at Close here).
func TestPartTableUpgraded(t *testing.T) {
	data, p := partData(11, 3)
	tp := withTable(p, data)
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	commitBlocksT(t, s, tp, data, 1)
	commitBlocksT(t, s, tp, data, 0, 2)
	if got := recordedTable(t, s, p.Digest, p.Size); got != tp.Blocks {
		t.Fatalf("recorded table %s, want %s", got, tp.Blocks)
	}
	checkServed(t, s, tp, data, 0, 1, 2)
	checkServed(t, s, p, data, 0, 1, 2) // hashed whole, then trusted
	other := withTable(p, content(12, len(data)))
	checkServed(t, s, other, data, 0, 1, 2) // a lying table's reader gets the digest's bytes
	s = reopenUntrusted(t, s, dir, p, data)
	checkConsistent(t, s)
}

// TestPartReopen keeps the committed blocks across Close and Open, and
// forgets those aborted or never committed.
func TestPartReopen(t *testing.T) {
	data, p := partData(9, 5)
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitBlocksT(t, s, p, data, 0, 2)
	aborted, open := createPartT(t, s, p), createPartT(t, s, p)
	writeBlocksT(t, aborted, data, 1)
	writeBlocksT(t, open, data, 3, 4)
	if err := aborted.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := open.Commit(); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	s = openT(t, dir, Options{})
	checkServed(t, s, p, data, 0, 2)
	checkConsistent(t, s)
	if got, want := s.Bytes(), int64(2*bs); got != want {
		t.Errorf("Bytes after reopening = %d, want %d", got, want)
	}
	commitBlocksT(t, s, p, data, 1, 3, 4)
	checkComplete(t, s, p.Digest, data)
}

// TestPartEmptyPiece completes a piece of no bytes through a Part.
func TestPartEmptyPiece(t *testing.T) {
	p := meta.Piece{Digest: meta.Sum(nil)}
	s := openT(t, t.TempDir(), Options{})
	w := createPartT(t, s, p)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, s, p.Digest, []byte{})
}

// TestTableReadersConcurrent reads a piece trusted on its table with
// readers of the table and readers without one at once: for an honest
// table every read is served right; for a lying one, a reader without the
// table never gets a byte, and a reader of the table gets its table's
// bytes or, once the piece is dropped, a miss.
func TestTableReadersConcurrent(t *testing.T) {
	data, p := partData(16, 4)
	wrong := content(17, len(data))
	for _, c := range []struct {
		name  string
		bytes []byte // what the blocks hold
	}{{"honest", data}, {"lying", wrong}} {
		t.Run(c.name, func(t *testing.T) {
			tp := withTable(p, c.bytes)
			s := openT(t, t.TempDir(), Options{})
			commitBlocksT(t, s, tp, c.bytes, 0, 1, 2, 3)
			var wg sync.WaitGroup
			for i := range 8 {
				want := tp
				if i%2 == 1 {
					want = p
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range 4 {
						off, blk := block(c.bytes, k)
						b := make([]byte, len(blk))
						n, err := s.ReadAt(want, b, off)
						switch {
						case err == nil && (n != len(blk) || !bytes.Equal(b, blk)):
							t.Errorf("reader %d, block %d: other bytes than the table's", i, k)
						case err == nil && want == p && c.name == "lying":
							t.Errorf("reader %d without the table was served block %d of a lying table", i, k)
						case err != nil && (c.name == "honest" || !errors.Is(err, fs.ErrNotExist)):
							t.Errorf("reader %d, block %d: %v", i, k, err)
						}
					}
				}()
			}
			wg.Wait()
			checkConsistent(t, s)
		})
	}
}
