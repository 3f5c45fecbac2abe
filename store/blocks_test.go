package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// The tests of this file see the store as a user does, plus bucket blocks.

const bs = meta.DefaultBlockSize

// wantSums returns what bucket blocks should hold for a piece of bytes
// data: the CRC-32C of each block, 4 bytes big-endian each.
func wantSums(data []byte) []byte {
	tab := crc32.MakeTable(crc32.Castagnoli)
	out := []byte{}
	for off := 0; off < len(data); off += bs {
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(data[off:min(off+bs, len(data))], tab))
	}
	return out
}

// recordedSums returns the value of bucket blocks for d, and whether there
// is one.
func recordedSums(t *testing.T, s *Store, d meta.Digest) ([]byte, bool) {
	t.Helper()
	var v []byte
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(BucketBlocks)); b != nil {
			got := b.Get(d[:])
			v, ok = bytes.Clone(got), got != nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, ok
}

// checkSums fails the test unless bucket blocks records the checksums of
// data for d, alone or followed by the block table the piece is trusted on
// (see recordedTable).
func checkSums(t *testing.T, s *Store, d meta.Digest, data []byte) {
	t.Helper()
	got, ok := recordedSums(t, s, d)
	want := wantSums(data)
	if len(got) == len(want)+len(meta.Digest{}) && meta.Digest(got[len(want):]) != (meta.Digest{}) {
		got = got[:len(want)]
	}
	if !ok || !bytes.Equal(got, want) {
		t.Errorf("bucket %s for %s = %x (present %v), want %x", BucketBlocks, d, got, ok, want)
	}
}

// recordedTable returns the block table that the value of bucket blocks
// for d, a piece of size bytes, says the piece is trusted on; zero for
// none (hashed whole). The value must be well formed.
func recordedTable(t *testing.T, s *Store, d meta.Digest, size int64) meta.Digest {
	t.Helper()
	v, ok := recordedSums(t, s, d)
	_, table, valid := decodeSums(v, size)
	if !ok || !valid {
		t.Fatalf("bucket %s for %s = %x (present %v): not a well-formed value", BucketBlocks, d, v, ok)
	}
	return table
}

// reopenUntrusted closes s, opens dir again, and checks that the complete
// piece p is recorded trusted on no block table any more and holds data.
func reopenUntrusted(t *testing.T, s *Store, dir string, p meta.Piece, data []byte) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	if got := recordedTable(t, s, p.Digest, p.Size); got != (meta.Digest{}) {
		t.Errorf("after a restart, %s is still recorded trusted on table %s only", p.Digest, got)
	}
	checkComplete(t, s, p.Digest, data)
	return s
}

// blocky is a piece of four blocks, the last one short.
var blocky = content(21, 3*bs+1000)

// flipAt is a byte in its third block; inBlock a range of that block that
// does not hold it.
const (
	flipAt        = 2*bs + 30_000
	inBlock int64 = 2*bs + 100
)

// pieceSources put blocky into a store the ways a piece gets there, each
// returning the open store that holds it.
var pieceSources = []struct {
	name string
	put  func(t *testing.T, dir string) *Store
}{
	{"committed by this process", func(t *testing.T, dir string) *Store {
		s := openT(t, dir, Options{})
		putT(t, s, blocky)
		return s
	}},
	{"committed by an earlier process", func(t *testing.T, dir string) *Store {
		s := openT(t, dir, Options{})
		putT(t, s, blocky)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return openT(t, dir, Options{})
	}},
	{"recorded without checksums by an older version", func(t *testing.T, dir string) *Store {
		seed(t, dir, [][]byte{blocky})
		return openT(t, dir, Options{})
	}},
}

var blockReaders = append([]struct {
	name string
	read func(s *Store, d meta.Digest, size int) ([]byte, error)
}{
	{"ReadAt of 4 KiB of the block away from the flipped byte", func(s *Store, d meta.Digest, size int) ([]byte, error) {
		p := make([]byte, 4096)
		n, err := s.ReadAt(pieceOf(d, size), p, inBlock)
		return p[:n], err
	}},
	{"ReadAt of the flipped byte", func(s *Store, d meta.Digest, size int) ([]byte, error) {
		p := make([]byte, 1)
		n, err := s.ReadAt(pieceOf(d, size), p, flipAt)
		return p[:n], err
	}},
}, pieceReaders[1:]...) // ReadAt of all, Load

// TestFlipAfterFirstReadNeverServed flips a byte of a piece file after the
// store has read the piece: no later read serves any byte of the damaged
// block, the piece is dropped with its checksums, and it can be stored
// again.
func TestFlipAfterFirstReadNeverServed(t *testing.T) {
	d := meta.Sum(blocky)
	for _, src := range pieceSources {
		for _, r := range blockReaders {
			t.Run(src.name+"/"+r.name, func(t *testing.T) {
				s := src.put(t, t.TempDir())
				if got := readAll(t, s, d, len(blocky)); !bytes.Equal(got, blocky) {
					t.Fatal("first read returned other bytes than were put")
				}
				flipByte(t, s.piecePath(d), flipAt)
				got, err := r.read(s, d, len(blocky))
				if !errors.Is(err, ErrCorrupt) || !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("read after the flip = %d bytes, %v; want an error wrapping ErrCorrupt and fs.ErrNotExist", len(got), err)
				}
				if len(got) != 0 {
					t.Errorf("read after the flip served %d bytes", len(got))
				}
				checkAbsent(t, s, d)
				if _, ok := recordedSums(t, s, d); ok {
					t.Error("checksums of the dropped piece still recorded")
				}
				putT(t, s, blocky) // fetched again
				checkComplete(t, s, d, blocky)
			})
		}
	}
}

// TestFlipLeavesOtherBlocksServed checks that the check is per block: the
// blocks around a flipped byte are still served, right, until a read meets
// the damaged block, which drops the piece.
func TestFlipLeavesOtherBlocksServed(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	d := putT(t, s, blocky)
	flipByte(t, s.piecePath(d), flipAt)
	for _, off := range []int64{0, bs - 10, 3 * bs} {
		p := make([]byte, 990)
		n, err := s.ReadAt(pieceOf(d, len(blocky)), p, off)
		if err != nil || !bytes.Equal(p[:n], blocky[off:off+990]) {
			t.Fatalf("ReadAt at %d = %d bytes, %v; want the piece's", off, n, err)
		}
	}
	if !s.Has(d) {
		t.Fatal("piece dropped before a read met its damaged block")
	}
	p := make([]byte, 2*bs)
	if n, err := s.ReadAt(pieceOf(d, len(blocky)), p, bs); !errors.Is(err, ErrCorrupt) || n != 0 {
		t.Fatalf("ReadAt across the damaged block = %d, %v; want 0 and ErrCorrupt", n, err)
	}
	if !bytes.Equal(p, make([]byte, len(p))) {
		t.Error("ReadAt left bytes of the damaged piece in the caller's buffer")
	}
	checkAbsent(t, s, d)
}

// TestReadAtAcrossBlocks reads ranges that start, end and cross block
// boundaries, of a piece whose last block is short.
func TestReadAtAcrossBlocks(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	d := putT(t, s, blocky)
	size := int64(len(blocky))
	tests := []struct{ off, n int64 }{
		{0, 1}, {bs - 1, 2}, {bs, bs}, {100, 3*bs + 100}, {bs - 1, 2*bs + 2},
		{0, size}, {3 * bs, 1000}, {size - 1, 1}, {bs + 1, bs - 2}, {2 * bs, size - 2*bs},
	}
	for _, tc := range tests {
		p := make([]byte, tc.n)
		n, err := s.ReadAt(pieceOf(d, len(blocky)), p, tc.off)
		if err != nil || !bytes.Equal(p[:n], blocky[tc.off:tc.off+tc.n]) {
			t.Errorf("ReadAt [%d, +%d) = %d bytes, %v; want the piece's", tc.off, tc.n, n, err)
		}
	}
	p := make([]byte, 2000)
	if n, err := s.ReadAt(pieceOf(d, len(blocky)), p, size-1000); err != io.EOF || !bytes.Equal(p[:n], blocky[size-1000:]) {
		t.Errorf("ReadAt past the end = %d, %v; want the last 1000 bytes and io.EOF", n, err)
	}
}

// TestBlockSumsRecorded commits pieces of sizes around the block size,
// through Put and through a Writer in uneven chunks: their checksums are
// recorded with them, survive Close and Open, and are what reads check.
func TestBlockSumsRecorded(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	var datas [][]byte
	for i, n := range []int{0, 1, bs - 1, bs, bs + 1, 3*bs + 1000} {
		datas = append(datas, content(30+i, n))
	}
	for i, data := range datas {
		if i%2 == 0 {
			putT(t, s, data)
			continue
		}
		w, err := s.Create(meta.Sum(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1000+70_000*(len(rest)%2))
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for _, data := range datas {
		checkSums(t, s, meta.Sum(data), data)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	for _, data := range datas {
		checkComplete(t, s, meta.Sum(data), data)
	}
	checkConsistent(t, s)
	// Read once in this process: the next read must still check.
	big := datas[len(datas)-1]
	flipByte(t, s.piecePath(meta.Sum(big)), int64(len(big))-1)
	if _, err := s.Load(pieceOf(meta.Sum(big), len(big))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load after a flip = %v, want ErrCorrupt", err)
	}
}

// TestOlderRecordUpgraded opens a cache whose records an older version
// wrote, without checksums: the first read of a piece hashes it against its
// digest, as before, and records its checksums, so that from then on it is
// checked like any other.
func TestOlderRecordUpgraded(t *testing.T) {
	upgraders := map[string]func(s *Store, d meta.Digest, size int) error{
		"ReadAt": func(s *Store, d meta.Digest, size int) error {
			_, err := s.ReadAt(pieceOf(d, size), make([]byte, 10), 5)
			return err
		},
		"Load": func(s *Store, d meta.Digest, size int) error {
			_, err := s.Load(pieceOf(d, size))
			return err
		},
		"Verify": func(s *Store, _ meta.Digest, _ int) error {
			_, bad, err := s.Verify(context.Background(), nil)
			if err == nil && bad != 0 {
				err = errors.New("Verify found damage")
			}
			return err
		},
	}
	for name, upgrade := range upgraders {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			d := seed(t, dir, [][]byte{blocky})[0]
			s := openT(t, dir, Options{})
			if !s.Has(d) {
				t.Fatal("older record dropped at Open")
			}
			if err := upgrade(s, d, len(blocky)); err != nil {
				t.Fatal(err)
			}
			if _, ok := recordedSums(t, s, d); ok {
				t.Error("checksums recorded before the flush, want them queued")
			}
			s.flush() // as every 30s, and at Close
			checkSums(t, s, d, blocky)
			checkConsistent(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openT(t, dir, Options{})
			checkComplete(t, s, d, blocky)
			checkSums(t, s, d, blocky)
		})
	}
}

// TestDamagedChecksums damages the checksum record of a piece in a closed
// cache. A record of the wrong length is pruned at Open and the piece is
// hashed and recorded again as if an older version had written it; a
// checksum of the right length but the wrong value fails the reads of its
// block, which drop the piece rather than serve it, unless Verify, which
// hashes the whole piece against its digest, finds it first and rewrites
// the checksums.
func TestDamagedChecksums(t *testing.T) {
	d := meta.Sum(blocky)
	tests := []struct {
		name    string
		garble  func(v []byte) []byte
		verify  bool // run Verify before reading
		dropped bool // the read must drop the piece
	}{
		{"too short", func(v []byte) []byte { return v[:len(v)-1] }, false, false},
		{"one checksum wrong, read", func(v []byte) []byte { v[9] ^= 1; return v }, false, true},
		{"one checksum wrong, verified", func(v []byte) []byte { v[9] ^= 1; return v }, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, dir, Options{})
			putT(t, s, blocky)
			v, ok := recordedSums(t, s, d)
			if !ok {
				t.Fatal("no checksums recorded")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			updateDB(t, dir, func(tx *bolt.Tx) error { return tx.Bucket([]byte(BucketBlocks)).Put(d[:], tc.garble(v)) })
			s = openT(t, dir, Options{})
			if tc.verify {
				if _, bad, err := s.Verify(context.Background(), nil); bad != 0 || err != nil {
					t.Fatalf("Verify = %d bad, %v; want 0, nil", bad, err)
				}
			}
			p := make([]byte, 3*bs)
			n, err := s.ReadAt(pieceOf(d, len(blocky)), p, 0)
			if tc.dropped {
				if !errors.Is(err, ErrCorrupt) || n != 0 {
					t.Fatalf("ReadAt = %d, %v; want 0 and ErrCorrupt", n, err)
				}
				checkAbsent(t, s, d)
				return
			}
			if err != nil || !bytes.Equal(p, blocky[:3*bs]) {
				t.Fatalf("ReadAt = %d, %v; want the piece's bytes", n, err)
			}
			s.flush()
			checkSums(t, s, d, blocky)
			checkConsistent(t, s)
		})
	}
}

// TestConcurrentBlockReads reads random ranges of one piece from several
// goroutines, some through Load, while another piece is flipped and read:
// the pooled block buffers are never shared between reads.
func TestConcurrentBlockReads(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	d := putT(t, s, blocky)
	other := content(22, 2*bs)
	od := putT(t, s, other)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 200 {
				off := rng.Int64N(int64(len(blocky)))
				n := min(rng.Int64N(3*bs), int64(len(blocky))-off)
				p := make([]byte, n)
				if g == 0 {
					if b, err := s.Load(pieceOf(d, len(blocky))); err != nil || !bytes.Equal(b, blocky) {
						t.Errorf("Load = %d bytes, %v", len(b), err)
						return
					}
					continue
				}
				if got, err := s.ReadAt(pieceOf(d, len(blocky)), p, off); err != nil || !bytes.Equal(p[:got], blocky[off:off+n]) {
					t.Errorf("ReadAt [%d, +%d) = %d, %v; want the piece's bytes", off, n, got, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		flipByte(t, s.piecePath(od), bs+5)
		p := make([]byte, 100)
		for s.Has(od) {
			if n, err := s.ReadAt(pieceOf(od, len(other)), p, bs); err == nil && !bytes.Equal(p[:n], other[bs:bs+100]) {
				t.Errorf("ReadAt of the flipped piece served its damage")
				return
			}
		}
	})
	wg.Wait()
}

// TestCrashBeforeChecksumsFlushed copies the cache directory after the
// first read of a piece an older version recorded, before its checksums
// are written, as a crash there would leave it: the copy opens with the
// piece still complete, and its next first read hashes it again.
func TestCrashBeforeChecksumsFlushed(t *testing.T) {
	dir, crashed := t.TempDir(), t.TempDir()
	d := seed(t, dir, [][]byte{blocky})[0]
	s := openT(t, dir, Options{})
	readAll(t, s, d, len(blocky))
	copyTree(t, dir, crashed)
	cs := openT(t, crashed, Options{})
	if _, ok := recordedSums(t, cs, d); ok || !cs.Has(d) {
		t.Fatalf("after a crash before the flush: Has = %v, checksums recorded = %v; want true, false", cs.Has(d), ok)
	}
	flipByte(t, cs.piecePath(d), flipAt)
	p := make([]byte, 10)
	if _, err := cs.ReadAt(pieceOf(d, len(blocky)), p, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("first read of a damaged piece still without checksums = %v, want ErrCorrupt", err)
	}
	checkAbsent(t, cs, d)
}

// TestSumsValue checks the values of bucket blocks a piece of three blocks
// may have: its checksums, alone or followed by a block table that is not
// zero; nothing else.
func TestSumsValue(t *testing.T) {
	size := int64(2*bs + 1)
	sums := []uint32{1, 2, 3}
	table := meta.Sum([]byte("a table"))
	for _, c := range []struct {
		name  string
		v     []byte
		ok    bool
		table meta.Digest
	}{
		{"checksums", encodeSums(sums, meta.Digest{}), true, meta.Digest{}},
		{"with a table", encodeSums(sums, table), true, table},
		{"with a zero table", append(encodeSums(sums, meta.Digest{}), make([]byte, 32)...), false, meta.Digest{}},
		{"short", encodeSums(sums[:2], meta.Digest{}), false, meta.Digest{}},
		{"a table cut short", encodeSums(sums, table)[:12+31], false, meta.Digest{}},
		{"a byte more", append(encodeSums(sums, table), 0), false, meta.Digest{}},
	} {
		got, gotTable, ok := decodeSums(c.v, size)
		if ok != c.ok || sumsValueOK(c.v, size) != c.ok || gotTable != c.table || (ok && !slices.Equal(got, sums)) {
			t.Errorf("%s: decodeSums = %v, %s, %v; want ok %v, table %s", c.name, got, gotTable, ok, c.ok, c.table)
		}
	}
}

// TestVerifyTrustedOnTable: verifying the cache hashes a piece trusted on
// its table against its digest like any other, dropping one whose table
// lied and no longer trusting a good one on its table alone.
func TestVerifyTrustedOnTable(t *testing.T) {
	good, p := partData(13, 2)
	bad, q := partData(14, 2)
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	commitBlocksT(t, s, withTable(p, good), good, 0, 1)
	commitBlocksT(t, s, withTable(q, content(15, len(bad))), content(15, len(bad)), 0, 1)
	checked, nbad, err := s.Verify(context.Background(), nil)
	if checked != 2 || nbad != 1 || err != nil {
		t.Fatalf("Verify = %d checked, %d bad, %v; want 2, 1, nil", checked, nbad, err)
	}
	if s.Has(q.Digest) {
		t.Error("the piece whose table lied is still complete")
	}
	reopenUntrusted(t, s, dir, p, good)
}
