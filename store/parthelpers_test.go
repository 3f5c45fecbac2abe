package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// partData returns the bytes of a piece of n blocks, the last one short by
// 1000 bytes, and the piece as a manifest of version 1 names it (no block
// table).
func partData(i, n int) ([]byte, meta.Piece) {
	data := content(i, n*bs-1000)
	return data, meta.Piece{Digest: meta.Sum(data), Size: int64(len(data))}
}

// withTable returns p as a version 2 manifest names it, with its block
// table.
func withTable(p meta.Piece, data []byte) meta.Piece {
	p.Blocks = meta.Sum(meta.BlockTable(data, bs))
	return p
}

// block returns the offset and bytes of block k of data.
func block(data []byte, k int) (int64, []byte) {
	off := k * bs
	return int64(off), data[off:min(off+bs, len(data))]
}

func createPartT(t *testing.T, s *Store, p meta.Piece) *Part {
	t.Helper()
	w, err := s.CreatePart(p)
	if err != nil {
		t.Fatalf("CreatePart(%s): %v", p.Digest, err)
	}
	return w
}

// writeBlocksT writes the blocks ks of data through w, one WriteAt each.
func writeBlocksT(t *testing.T, w *Part, data []byte, ks ...int) {
	t.Helper()
	for _, k := range ks {
		off, b := block(data, k)
		if n, err := w.WriteAt(b, off); err != nil || n != len(b) {
			t.Fatalf("WriteAt(block %d) = %d, %v; want %d, nil", k, n, err, len(b))
		}
	}
}

// commitBlocksT writes the blocks ks of data through a new Part and
// commits them.
func commitBlocksT(t *testing.T, s *Store, p meta.Piece, data []byte, ks ...int) {
	t.Helper()
	w := createPartT(t, s, p)
	writeBlocksT(t, w, data, ks...)
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit(blocks %v): %v", ks, err)
	}
}

// servedBlocks reads every block of p from s and returns which were
// served. A served block must hold data's bytes, and Present must agree;
// a block not served must be a miss (fs.ErrNotExist).
func servedBlocks(t *testing.T, s *Store, p meta.Piece, data []byte) []int {
	t.Helper()
	var served []int
	for k := range meta.NumBlocks(p.Size, bs) {
		off, want := block(data, k)
		got := make([]byte, len(want))
		n, err := s.ReadAt(p, got, off)
		present := s.Present(p, off, int64(len(want)))
		switch {
		case err == nil && n == len(want):
			if !bytes.Equal(got, want) {
				t.Errorf("block %d served with other bytes than were written", k)
			}
			served = append(served, k)
		case errors.Is(err, fs.ErrNotExist):
			if errors.Is(err, ErrCorrupt) {
				t.Errorf("block %d: %v; want a clean miss", k, err)
			}
		default:
			t.Errorf("ReadAt(block %d) = %d, %v; want the block or a miss", k, n, err)
		}
		if present != (err == nil) {
			t.Errorf("Present(block %d) = %v, but ReadAt's error is %v", k, present, err)
		}
	}
	return served
}

// checkServed fails the test unless s serves exactly the blocks want of p,
// with data's bytes.
func checkServed(t *testing.T, s *Store, p meta.Piece, data []byte, want ...int) {
	t.Helper()
	got := servedBlocks(t, s, p, data)
	if !equalInts(got, want) {
		t.Errorf("blocks served = %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
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

// recordedPartial returns the blocks bucket partial records for d.
func recordedPartial(t *testing.T, s *Store, d meta.Digest) (*presence, bool) {
	t.Helper()
	var h *presence
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(BucketPartial)).Get(d[:]); v != nil {
			h, ok = decodePartial(v)
			if !ok {
				t.Errorf("malformed partial record of %s: %x", d, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, ok
}

// blocksOf lists the blocks h records.
func blocksOf(h *presence) []int {
	var ks []int
	for k := range h.sums {
		if h.has(k) {
			ks = append(ks, k)
		}
	}
	return ks
}

// checkPartialRecords checks the records of bucket partial against the
// files in onDisk (base names), which it takes out of onDisk: each is
// well-formed, has its partial file of the recorded size, no piece record
// beside it, and is in the index with the same blocks.
func checkPartialRecords(t *testing.T, s *Store, tx *bolt.Tx, onDisk map[string]bool) error {
	t.Helper()
	pieces := tx.Bucket([]byte(BucketPieces))
	return tx.Bucket([]byte(BucketPartial)).ForEach(func(k, v []byte) error {
		d := meta.Digest(k)
		h, ok := decodePartial(v)
		if !ok {
			t.Errorf("malformed partial record of %s", d)
			return nil
		}
		name := d.Hex() + blocksSuffix
		if !onDisk[name] {
			t.Errorf("partial record of %s without its file", d)
		} else if st, err := os.Stat(filepath.Join(s.Dir(), filepath.FromSlash(meta.PiecePath(d))+blocksSuffix)); err != nil || st.Size() != h.size {
			t.Errorf("partial file of %s: %v, want %d bytes", d, err, h.size)
		}
		delete(onDisk, name)
		if pieces.Get(k) != nil {
			t.Errorf("%s recorded both complete and partial", d)
		}
		s.mu.RLock()
		e, ok := s.index.getPartial(d)
		var inIndex []int
		if ok {
			inIndex = blocksOf(e.have)
		}
		s.mu.RUnlock()
		if !ok || !equalInts(inIndex, blocksOf(h)) {
			t.Errorf("partial record of %s holds blocks %v, the index %v (present %v)", d, blocksOf(h), inIndex, ok)
		}
		return nil
	})
}
