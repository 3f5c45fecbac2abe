package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// TestPartialFlipNeverServed flips a byte in a recorded block of a partial
// file: the read of that block fails with ErrCorrupt, leaves no byte of it
// in the buffer, and drops the block (for good: also after reopening); the
// other blocks are still served.
func TestPartialFlipNeverServed(t *testing.T) {
	data, p := partData(20, 4)
	dir := t.TempDir()
	log, hook := logtest.NewNullLogger()
	s, err := Open(dir, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	commitBlocksT(t, s, p, data, 0, 1, 3)
	checkServed(t, s, p, data, 0, 1, 3) // the file is open and cached now
	flipByte(t, s.partialPath(p.Digest), bs+123)

	b := bytes.Repeat([]byte{0xAA}, 2*bs)
	n, err := s.ReadAt(p, b, 0)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadAt over the flipped block = %d, %v; want ErrCorrupt and fs.ErrNotExist", n, err)
	}
	if !bytes.Equal(b, make([]byte, len(b))) {
		t.Error("buffer holds bytes after a failed check; want it cleared")
	}
	if len(logged(hook, logrus.WarnLevel, "block", 1)) != 1 {
		t.Error("no warning naming the damaged block")
	}
	checkServed(t, s, p, data, 0, 3)
	if h, _ := recordedPartial(t, s, p.Digest); !equalInts(blocksOf(h), []int{0, 3}) {
		t.Errorf("partial record holds blocks %v, want 0 and 3", blocksOf(h))
	}
	if got, want := s.Bytes(), int64(bs+bs-1000); got != want {
		t.Errorf("Bytes = %d, want %d", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	checkServed(t, s, p, data, 0, 3)
	// Written again, the block is served again, and the piece completes.
	commitBlocksT(t, s, p, data, 1, 2)
	checkComplete(t, s, p.Digest, data)
}

// TestPartialFlipLastBlock drops a partial piece whose one recorded block
// is damaged: record and file go.
func TestPartialFlipLastBlock(t *testing.T) {
	data, p := partData(21, 3)
	s := openT(t, t.TempDir(), Options{})
	commitBlocksT(t, s, p, data, 2)
	flipByte(t, s.partialPath(p.Digest), 2*bs+1)
	b := make([]byte, 10)
	if _, err := s.ReadAt(p, b, 2*bs); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadAt = %v, want ErrCorrupt", err)
	}
	checkAbsent(t, s, p.Digest)
	if _, ok := recordedPartial(t, s, p.Digest); ok {
		t.Error("partial record kept with no block")
	}
	checkConsistent(t, s)
}

// TestPartialFileLost removes or truncates a partial file under a running
// store: the next read drops the partial piece.
func TestPartialFileLost(t *testing.T) {
	for name, damage := range map[string]func(string) error{
		"removed":   os.Remove,
		"truncated": func(f string) error { return os.Truncate(f, bs) },
	} {
		t.Run(name, func(t *testing.T) {
			data, p := partData(22, 3)
			s := openT(t, t.TempDir(), Options{})
			commitBlocksT(t, s, p, data, 0, 1)
			if err := damage(s.partialPath(p.Digest)); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 2*bs)
			if _, err := s.ReadAt(p, b, 0); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("ReadAt = %v, want fs.ErrNotExist", err)
			}
			checkAbsent(t, s, p.Digest)
			checkConsistent(t, s)
		})
	}
}

// TestReconcilePartials damages partial pieces and their records in a
// closed cache directory: Open drops what does not match and keeps the
// rest.
func TestReconcilePartials(t *testing.T) {
	dir := t.TempDir()
	var datas [][]byte
	var ps []meta.Piece
	for i := range 6 {
		data, p := partData(30+i, 3)
		datas, ps = append(datas, data), append(ps, p)
	}
	complete := content(40, 2*bs)
	cp := meta.Piece{Digest: meta.Sum(complete), Size: int64(len(complete))}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		commitBlocksT(t, s, p, datas[i], 0)
	}
	commitBlocksT(t, s, cp, complete, 0)
	partialOfComplete := s.partialPath(cp.Digest)
	saved, err := os.ReadFile(partialOfComplete)
	if err != nil {
		t.Fatal(err)
	}
	putT(t, s, complete)
	paths := make([]string, len(ps))
	for i, p := range ps {
		paths[i] = s.partialPath(p.Digest)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// 0 is kept. 1 loses its file; 2's is truncated; 3's record is
	// garbled; 4's record goes; 5's is extended. The complete piece gets
	// its partial file and record back, as a crash between its
	// completion's transaction and the removal of the file could leave.
	must(t, os.Remove(paths[1]))
	must(t, os.Truncate(paths[2], bs))
	must(t, os.Truncate(paths[5], ps[5].Size+1))
	must(t, os.WriteFile(partialOfComplete, saved, 0o600))
	updateDB(t, dir, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(BucketPartial))
		must(t, b.Put(ps[3].Digest[:], []byte("garbled")))
		must(t, b.Delete(ps[4].Digest[:]))
		h := newPresence(cp)
		h.set(0, 1)
		return b.Put(cp.Digest[:], encodePartial(h))
	})
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	s = openT(t, dir, Options{Log: log})
	checkServed(t, s, ps[0], datas[0], 0)
	for i := 1; i < len(ps); i++ {
		checkServed(t, s, ps[i], datas[i])
		checkNoPartial(t, s, ps[i].Digest)
	}
	checkNoPartial(t, s, cp.Digest)
	checkComplete(t, s, cp.Digest, complete)
	checkConsistent(t, s)
	es := logged(hook, logrus.InfoLevel, "kind", BucketPartial)
	if len(es) != 1 || es[0].Data["kept"] != 1 || es[0].Data["records_dropped"] != 5 || es[0].Data["unrecorded_removed"] != 5 {
		t.Errorf("reconcile log of partial pieces = %v, want 1 kept, 5 dropped, 5 removed", entryData(es))
	}
}

// checkNoPartial checks that d has no partial record, file or index entry.
func checkNoPartial(t *testing.T, s *Store, d meta.Digest) {
	t.Helper()
	if recorded(t, s, BucketPartial, d) {
		t.Errorf("partial record of %s kept", d)
	}
	if _, err := os.Stat(s.partialPath(d)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("partial file of %s: %v, want none", d, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.index.getPartial(d); ok {
		t.Errorf("partial piece %s in the index", d)
	}
}

func entryData(es []*logrus.Entry) []logrus.Fields {
	var fs []logrus.Fields
	for _, e := range es {
		fs = append(fs, e.Data)
	}
	return fs
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDecodePartial checks the format of bucket partial's values.
func TestDecodePartial(t *testing.T) {
	p := meta.Piece{Size: 3*bs - 5, Blocks: meta.Sum([]byte("table"))}
	h := newPresence(p)
	h.set(0, 0xdeadbeef)
	h.set(2, 7)
	v := encodePartial(h)
	want := append(encodeSize(p.Size), p.Blocks[:]...)
	want = append(want, 0b101)
	want = append(want, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 7)
	if !bytes.Equal(v, want) {
		t.Fatalf("encodePartial = %x, want %x", v, want)
	}
	got, ok := decodePartial(v)
	if !ok || got.table != p.Blocks || !equalInts(blocksOf(got), []int{0, 2}) || got.bytes != bs+bs-5 {
		t.Errorf("decodePartial = %+v, %v", got, ok)
	}
	for name, bad := range map[string][]byte{
		"short":            v[:len(v)-1],
		"long":             append(bytes.Clone(v), 0),
		"bit past the end": replaceAt(v, partialHeader, 0b1101),
		"sum of an absent": replaceAt(v, len(v)-5, 1),
		"no block":         encodePartial(newPresence(p)),
		"every block":      replaceAt(v, partialHeader, 0b111),
		"size zero":        append(encodeSize(0), p.Blocks[:]...),
		"empty":            nil,
	} {
		if _, ok := decodePartial(bad); ok {
			t.Errorf("decodePartial(%s) accepted %x", name, bad)
		}
	}
}

func replaceAt(v []byte, i int, c byte) []byte {
	v = bytes.Clone(v)
	v[i] = c
	return v
}

// TestPartDroppedWhileOpen drops a partial piece (its file lost) while a
// Part of it is open: the Part's Commit fails and records nothing.
func TestPartDroppedWhileOpen(t *testing.T) {
	data, p := partData(23, 3)
	s := openT(t, t.TempDir(), Options{})
	commitBlocksT(t, s, p, data, 0)
	w := createPartT(t, s, p)
	writeBlocksT(t, w, data, 1, 2)
	must(t, os.Remove(s.partialPath(p.Digest)))
	if _, err := s.ReadAt(p, make([]byte, 10), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadAt = %v, want fs.ErrNotExist", err)
	}
	if err := w.Commit(); err == nil {
		t.Error("Commit of a Part of a dropped partial piece succeeded")
	}
	checkAbsent(t, s, p.Digest)
	checkConsistent(t, s)
	if got := s.Bytes(); got != 0 {
		t.Errorf("Bytes = %d, want 0", got)
	}
}
