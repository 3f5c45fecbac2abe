package store

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

func TestPutReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	sizes := []int{0, 1, 4096, 100_000}
	var ds []meta.Digest
	for i, n := range sizes {
		ds = append(ds, putT(t, s, content(i, n)))
	}
	for i, d := range ds {
		checkComplete(t, s, d, content(i, sizes[i]))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, dir, Options{})
	for i, d := range ds {
		checkComplete(t, s2, d, content(i, sizes[i]))
	}
}

func TestWriterInPieces(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	data := content(1, 10_000)
	d := meta.Sum(data)
	w, err := s.Create(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Has(d) {
		t.Error("Has = true before Commit, want false")
	}
	for b := data; len(b) > 0; b = b[min(len(b), 999):] {
		if _, err := w.Write(b[:min(len(b), 999)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, s, d, data)
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit = %v, want nil", err)
	}
	checkComplete(t, s, d, data)
}

func TestPutAlreadyComplete(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	data := content(2, 100)
	d := putT(t, s, data)
	if err := s.Put(d, data); err != nil {
		t.Errorf("second Put = %v, want nil", err)
	}
	// A Writer started before the piece completed commits as a no-op.
	w, err := s.Create(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Errorf("Commit of a complete piece = %v, want nil", err)
	}
	checkComplete(t, s, d, data)
}

func TestAbortRemovesPart(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	data := content(3, 100)
	d := meta.Sum(data)
	w, err := s.Create(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:50]); err != nil {
		t.Fatal(err)
	}
	if got := files(t, s.Dir(), piecesDir); len(got) != 1 {
		t.Fatalf("files while writing = %v, want one .part", got)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	checkAbsent(t, s, d)
	if err := w.Commit(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Commit after Abort = %v, want an error wrapping fs.ErrClosed", err)
	}
	if _, err := w.Write(data); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Write after Abort = %v, want an error wrapping fs.ErrClosed", err)
	}
}

func TestCommitSizeMismatch(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		written int
	}{
		{"short", 100, 60},
		{"empty", 100, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t, t.TempDir(), Options{})
			data := content(4, tc.written)
			d := meta.Sum(content(4, int(tc.size)))
			w, err := s.Create(d, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(); err == nil {
				t.Fatal("Commit of a short piece succeeded, want an error")
			}
			checkAbsent(t, s, d)
		})
	}
}

func TestWriteBeyondSize(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	d := meta.Sum([]byte("x"))
	w, err := s.Create(d, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Abort() }()
	if _, err := w.Write(make([]byte, 11)); err == nil {
		t.Error("Write of 11 bytes into a 10-byte piece succeeded, want an error")
	}
}

func TestCreateBusy(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	data := content(5, 10)
	d := meta.Sum(data)
	w, err := s.Create(d, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(d, 10); !errors.Is(err, ErrBusy) {
		t.Errorf("second Create = %v, want an error wrapping ErrBusy", err)
	}
	if err := s.Put(d, data); !errors.Is(err, ErrBusy) {
		t.Errorf("Put while writing = %v, want an error wrapping ErrBusy", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	putT(t, s, data)
}

func TestReadAt(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	data := content(6, 100)
	d := putT(t, s, data)
	tests := []struct {
		name    string
		off     int64
		len     int
		want    []byte
		wantErr error
	}{
		{"inside", 10, 20, data[10:30], nil},
		{"whole", 0, 100, data, nil},
		{"to the end", 90, 10, data[90:], nil},
		{"past the end", 90, 20, data[90:], io.EOF},
		{"at the end", 100, 5, nil, io.EOF},
		{"beyond the end", 200, 5, nil, io.EOF},
		{"empty at the end", 100, 0, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := make([]byte, tc.len)
			n, err := s.ReadAt(pieceOf(d, len(data)), p, tc.off)
			if err != tc.wantErr {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if got := p[:n]; !bytes.Equal(got, tc.want) {
				t.Errorf("got %d bytes %x, want %d bytes %x", len(got), got, len(tc.want), tc.want)
			}
		})
	}
	if _, err := s.ReadAt(pieceOf(d, len(data)), make([]byte, 1), -1); err == nil {
		t.Error("ReadAt at a negative offset succeeded, want an error")
	}
	if _, err := s.ReadAt(pieceOf(meta.Sum([]byte("absent")), 6), make([]byte, 1), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadAt of an absent piece = %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestReadAtLostFile(t *testing.T) {
	tests := []struct {
		name   string
		warm   bool // read once first, so the file is in the open-file cache
		damage func(path string) error
	}{
		{"deleted", false, os.Remove},
		{"truncated", false, func(p string) error { return os.Truncate(p, 3) }},
		{"truncated while open", true, func(p string) error { return os.Truncate(p, 3) }},
	}
	for _, tc := range tests {
		for _, r := range pieceReaders {
			t.Run(tc.name+"/"+r.name, func(t *testing.T) {
				dir := t.TempDir()
				s := openT(t, dir, Options{})
				data := content(7, 1000)
				d := putT(t, s, data)
				if tc.warm {
					readAll(t, s, d, len(data))
				}
				if err := tc.damage(s.piecePath(d)); err != nil {
					t.Fatal(err)
				}
				if _, err := r.read(s, d, len(data)); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("read = %v, want an error wrapping fs.ErrNotExist", err)
				}
				checkAbsent(t, s, d)
				putT(t, s, data) // fetched again
				checkComplete(t, s, d, data)
			})
		}
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	done := make(chan error, 1)
	go func() {
		s2, err := Open(dir, Options{LockTimeout: 50 * time.Millisecond})
		if err == nil {
			s2.Close()
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute): // a guard against hanging, not a speed check
		t.Fatal("second Open did not return")
	}
	if !errors.Is(err, ErrInUse) {
		t.Errorf("second Open = %v, want an error wrapping ErrInUse", err)
	}
	if want := "cache directory " + dir + " is in use by another piecefs process"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("second Open error = %q, want it to contain %q", err, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openT(t, dir, Options{LockTimeout: 50 * time.Millisecond})
}

func TestCloseIdempotent(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := putT(t, s, content(8, 10))
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close #%d = %v, want nil", i+1, err)
		}
	}
	if _, err := s.ReadAt(pieceOf(d, 10), make([]byte, 10), 0); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("ReadAt after Close = %v, want an error wrapping fs.ErrClosed", err)
	}
	if err := s.Put(meta.Sum([]byte("new")), []byte("new")); err == nil {
		t.Error("Put after Close succeeded, want an error")
	}
}

// TestDatabaseFormat reads the database the way the e2e tests do: every
// record of bucket pieces names a file that hashes to its key and has the
// recorded size.
func TestDatabaseFormat(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	for i := range 5 {
		putT(t, s, content(i, 1000*i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(dir+"/"+DBName, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketPieces)).ForEach(func(k, v []byte) error {
			n++
			d, size, ok := parseRecord(k, v)
			if !ok {
				t.Errorf("malformed record %x → %x", k, v)
				return nil
			}
			b, err := os.ReadFile(dir + "/" + meta.PiecePath(d))
			if err != nil {
				return err
			}
			if meta.Sum(b) != d || int64(len(b)) != size {
				t.Errorf("piece %s: file of %d bytes hashing to %s, want %d bytes", d, len(b), meta.Sum(b), size)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("records = %d, want 5", n)
	}
}

// TestReadOfAnotherSize names a stored piece with sizes it does not have, as
// a lying manifest would: every read is a miss, and the piece stays.
func TestReadOfAnotherSize(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	data := content(9, 4096)
	d := putT(t, s, data)
	for _, size := range []int{1, 4000, 4095, 4097, 8192} {
		p := make([]byte, 100)
		if n, err := s.ReadAt(pieceOf(d, size), p, 0); n != 0 || !errors.Is(err, ErrSize) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadAt as %d bytes = %d, %v; want 0 and an error wrapping ErrSize and fs.ErrNotExist", size, n, err)
		}
		if b, err := s.Load(pieceOf(d, size)); b != nil || !errors.Is(err, ErrSize) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load as %d bytes = %d bytes, %v; want an error wrapping ErrSize and fs.ErrNotExist", size, len(b), err)
		}
	}
	if !s.Has(d) {
		t.Fatal("a read of another size dropped the stored piece")
	}
	if got := readAll(t, s, d, len(data)); !bytes.Equal(got, data) {
		t.Fatal("the stored piece no longer reads back")
	}
}

// TestDamagedDatabaseHasOneOwner opens a cache directory whose database is
// damaged from two goroutines at once, as two processes started together
// would: the one that repairs it owns the directory, and the other fails
// with ErrInUse. A lock on the database file itself would not do: the
// repair moves that file aside, and the opener waiting on it would then
// repair (and own) the replacement too.
func TestDamagedDatabaseHasOneOwner(t *testing.T) {
	for round := range 10 {
		dir := t.TempDir()
		seed(t, dir, [][]byte{content(round, 100)})
		if err := os.WriteFile(filepath.Join(dir, DBName), bytes.Repeat([]byte{0xa5}, 64<<10), 0o600); err != nil {
			t.Fatal(err)
		}
		results := make(chan error, 2)
		stores := make(chan *Store, 2)
		for range 2 {
			go func() {
				s, err := Open(dir, Options{LockTimeout: 300 * time.Millisecond})
				if err == nil {
					stores <- s
				}
				results <- err
			}()
		}
		var owners, inUse int
		for range 2 {
			switch err := <-results; {
			case err == nil:
				owners++
			case errors.Is(err, ErrInUse):
				inUse++
			default:
				t.Errorf("round %d: Open = %v, want success or ErrInUse", round, err)
			}
		}
		close(stores)
		for s := range stores {
			s.Close()
		}
		if owners != 1 || inUse != 1 {
			t.Fatalf("round %d: %d opens own the directory and %d found it in use, want 1 and 1", round, owners, inUse)
		}
	}
}
