package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// stray is a file no store writes, put into a closed cache directory to see
// whether the next Open scans it (and removes the file) or trusts it.
const stray = "pieces/stray"

func hasStray(t *testing.T, dir string) bool {
	t.Helper()
	return slices.Contains(files(t, dir, piecesDir), stray)
}

// TestCleanClose: after a clean Close, Open reads the records without
// scanning the directory; what changed on disk since is found by the read
// that meets it, never served.
func TestCleanClose(t *testing.T) {
	dir := t.TempDir()
	datas := [][]byte{content(1, 3*blockSize+7), content(2, 500), content(3, 2*blockSize), content(4, 900)}
	s := openT(t, dir, Options{})
	var ds []meta.Digest
	for _, data := range datas {
		ds = append(ds, putT(t, s, data))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, stray, []byte("x"))
	if err := os.Remove(filepath.Join(dir, meta.PiecePath(ds[1]))); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, meta.PiecePath(ds[2]), datas[2][:blockSize+1]) // shorter
	flipped := append([]byte(nil), datas[3]...)
	flipped[17] ^= 1
	writeFile(t, dir, meta.PiecePath(ds[3]), flipped)

	s = openT(t, dir, Options{})
	if !s.trusted {
		t.Fatal("Open scanned a directory closed cleanly")
	}
	if !hasStray(t, dir) {
		t.Error("Open removed a stray file from a directory closed cleanly: it scanned")
	}
	checkComplete(t, s, ds[0], datas[0])
	for i := 1; i < len(ds); i++ {
		b := make([]byte, len(datas[i]))
		n, err := s.ReadAt(pieceOf(ds[i], len(datas[i])), b, 0)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("read of damaged piece %d: n=%d err=%v, want fs.ErrNotExist", i, n, err)
		}
		if s.Has(ds[i]) || recorded(t, s, BucketPieces, ds[i]) {
			t.Errorf("damaged piece %d is still recorded after a read met it", i)
		}
		for j, c := range b {
			if c != 0 {
				t.Errorf("read of damaged piece %d returned byte %d of it", i, j)
				break
			}
		}
	}
	if err := os.Remove(filepath.Join(dir, stray)); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, s)
}

// TestCleanCloseWriteThenCrash: a directory opened on the mark of a clean
// close is scanned again after a crash that follows the first file the
// store writes, even one with no record yet.
func TestCleanCloseWriteThenCrash(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, s *Store) func()
	}{
		{"piece", func(t *testing.T, s *Store) func() {
			w, err := s.Create(meta.Sum([]byte("x")), 1)
			if err != nil {
				t.Fatal(err)
			}
			return func() { _ = w.Abort() }
		}},
		{"partial piece", func(t *testing.T, s *Store) func() {
			data, p := partData(5, 3)
			w := createPartT(t, s, withTable(p, data))
			writeBlocksT(t, w, data, 1)
			return func() { _ = w.Abort() }
		}},
		{"manifest", func(t *testing.T, s *Store) func() {
			s.opts.faultHook = func(step string) error {
				if step == stepCommit {
					copyTree(t, s.dir, filepath.Join(filepath.Dir(s.dir), "crash"))
				}
				return nil
			}
			data := []byte(`{"x":1}`)
			if err := s.SaveManifest("http://o", "", meta.Sum(data), data); err != nil {
				t.Fatal(err)
			}
			return func() {}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "cache")
			s := openT(t, dir, Options{})
			putT(t, s, content(1, 100))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, stray, []byte("x"))
			s = openT(t, dir, Options{})
			if !s.trusted {
				t.Fatal("Open scanned a directory closed cleanly")
			}
			crash := filepath.Join(root, "crash")
			done := tc.write(t, s)
			if _, err := os.Stat(crash); err != nil {
				copyTree(t, dir, crash) // the crash: the directory as it is now
			}
			done()
			c := openT(t, crash, Options{})
			if c.trusted {
				t.Error("Open trusted the mark of a clean close after a crash")
			}
			if hasStray(t, crash) {
				t.Error("Open after a crash did not scan the directory")
			}
			for _, f := range files(t, crash, piecesDir) {
				if filepath.Ext(f) == partSuffix || filepath.Ext(f) == blocksSuffix {
					t.Errorf("file %s without a record survived the Open after a crash", f)
				}
			}
			checkConsistent(t, c)
		})
	}
}

// TestCloseWithWriterOpen: a Close while a Writer or a Part is open does
// not mark the directory clean, so the next Open scans it.
func TestCloseWithWriterOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T, s *Store) func() error
	}{
		{"writer", func(t *testing.T, s *Store) func() error {
			w, err := s.Create(meta.Sum([]byte("x")), 1)
			if err != nil {
				t.Fatal(err)
			}
			return w.Abort
		}},
		{"part", func(t *testing.T, s *Store) func() error {
			data, p := partData(5, 3)
			return createPartT(t, s, withTable(p, data)).Abort
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, dir, Options{})
			putT(t, s, content(1, 100))
			done := tc.open(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, stray, []byte("x"))
			_ = done()
			s = openT(t, dir, Options{})
			if s.trusted || hasStray(t, dir) {
				t.Error("Open trusted a directory closed while a file was being written")
			}
		})
	}
}

// TestCleanCloseReadOnly: a process that only reads leaves the mark valid
// and writes no transaction when nothing changed, so each later Open trusts
// it; a read moves an access time, which Close writes with a new mark.
func TestCleanCloseReadOnly(t *testing.T) {
	dir := t.TempDir()
	data := content(1, 100)
	s := openT(t, dir, Options{})
	d := putT(t, s, data)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	txid := func() int {
		t.Helper()
		db, err := bolt.Open(filepath.Join(dir, DBName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tx, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		return tx.ID()
	}
	before := txid()
	for i := range 3 {
		s = openT(t, dir, Options{})
		if !s.trusted {
			t.Fatalf("open %d scanned a directory closed cleanly", i+1)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := txid(); got != before {
		t.Errorf("opens that changed nothing committed transactions: txid %d, was %d", got, before)
	}
	s = openT(t, dir, Options{})
	readAll(t, s, d, len(data))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	if !s.trusted {
		t.Error("Open scanned a directory closed cleanly after a read")
	}
}
