package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// openT opens a store on dir and closes it when the test ends.
func openT(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	// Tests mostly commit one piece at a time, with no batch worth
	// waiting for; a shorter delay keeps them fast and changes nothing else.
	s.db.MaxBatchDelay = time.Millisecond
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// content returns n deterministic bytes that differ for each i.
func content(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j*7 + j/251)
	}
	return b
}

func putT(t *testing.T, s *Store, data []byte) meta.Digest {
	t.Helper()
	d := meta.Sum(data)
	if err := s.Put(d, data); err != nil {
		t.Fatalf("Put(%s): %v", d, err)
	}
	return d
}

// seed writes complete pieces into a closed cache directory directly, much
// faster than Put (which waits for a bbolt batch per call).
func seed(t *testing.T, dir string, datas [][]byte) []meta.Digest {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ds []meta.Digest
	for _, data := range datas {
		d := meta.Sum(data)
		writeFile(t, dir, meta.PiecePath(d), data)
		ds = append(ds, d)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for i, d := range ds {
			if err := putRecord(BucketPieces, d, int64(len(datas[i])))(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return ds
}

// pieceOf names the piece d of size bytes, as a manifest would.
func pieceOf(d meta.Digest, size int) meta.Piece { return meta.Piece{Digest: d, Size: int64(size)} }

func readAll(t *testing.T, s *Store, d meta.Digest, size int) []byte {
	t.Helper()
	p := make([]byte, size)
	n, err := s.ReadAt(pieceOf(d, size), p, 0)
	if err != nil {
		t.Fatalf("ReadAt(%s): n=%d err=%v", d, n, err)
	}
	return p[:n]
}

// recorded reports whether bucket pieces has a record for d.
func recorded(t *testing.T, s *Store, bucket string, d meta.Digest) bool {
	t.Helper()
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket([]byte(bucket)).Get(d[:]) != nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// files lists the regular files under dir/sub, relative to dir.
func files(t *testing.T, dir, sub string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// checkAbsent checks that piece d is absent in every sense: not Has, no
// record, no checksums, and no file of any name under pieces/.
func checkAbsent(t *testing.T, s *Store, d meta.Digest) {
	t.Helper()
	if s.Has(d) {
		t.Errorf("Has(%s) = true, want false", d)
	}
	if recorded(t, s, BucketPieces, d) {
		t.Errorf("bucket %s has a record for %s, want none", BucketPieces, d)
	}
	if got := files(t, s.Dir(), piecesDir); len(got) != 0 {
		t.Errorf("files under pieces/ = %v, want none", got)
	}
	if _, ok := recordedSums(t, s, d); ok {
		t.Errorf("bucket %s has checksums for %s, want none", BucketBlocks, d)
	}
}

// checkComplete checks that piece d is complete, recorded with its
// checksums, and holds want.
func checkComplete(t *testing.T, s *Store, d meta.Digest, want []byte) {
	t.Helper()
	if !s.Has(d) {
		t.Fatalf("Has(%s) = false, want true", d)
	}
	if !recorded(t, s, BucketPieces, d) {
		t.Errorf("bucket %s has no record for %s", BucketPieces, d)
	}
	checkSums(t, s, d, want)
	if got := readAll(t, s, d, len(want)); string(got) != string(want) {
		t.Errorf("ReadAt(%s) returned other bytes than were put", d)
	}
	for _, f := range files(t, s.Dir(), piecesDir) {
		if strings.HasSuffix(f, partSuffix) {
			t.Errorf("leftover temporary file %s", f)
		}
	}
}

// copyTree copies the regular files and directories under src into dst, as
// a crash would find them.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return writeSparse(target, b)
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

// writeSparse writes b to the new file name, leaving holes where b has
// 4 KiB of zeros, so that a copy of a sparse partial file takes the room
// the original does.
func writeSparse(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	const page = 4096
	zeros := make([]byte, page)
	for off := 0; off < len(b); off += page {
		chunk := b[off:min(off+page, len(b))]
		if bytes.Equal(chunk, zeros[:len(chunk)]) {
			continue
		}
		if _, err := f.WriteAt(chunk, int64(off)); err != nil {
			return err
		}
	}
	if err := f.Truncate(int64(len(b))); err != nil {
		return err
	}
	return f.Close()
}

func countFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(entries)
}

var errInjected = errors.New("injected fault")
