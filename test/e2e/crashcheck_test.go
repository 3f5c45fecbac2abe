package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// checkCache opens the dead mount's database read-only: bbolt's check must
// pass, and every piece recorded complete must be a piece of the tree with
// its file, of its size, hashing to its digest. It also notes the .part
// files the kill left.
func (l *crashLoop) checkCache(t *testing.T) {
	t.Helper()
	l.recorded = crashReadDB(t, l.cache)
	for d, size := range l.recorded {
		if _, ok := l.tree.byDig[d]; !ok {
			t.Errorf("piece %s is recorded complete, but the tree has no such piece", d)
			continue
		}
		l.checkPieceFile(t, d, size)
	}
	_, parts := cacheFiles(l.cache)
	l.parts = l.parts[:0]
	for _, p := range parts {
		if d, err := meta.ParseHex(strings.TrimSuffix(filepath.Base(p), partSuffix)); err == nil {
			l.parts = append(l.parts, d)
		}
	}
}

// checkPieceFile checks the file of a recorded piece, hashing it unless
// this very file was hashed before.
func (l *crashLoop) checkPieceFile(t *testing.T, d meta.Digest, size int64) {
	t.Helper()
	path := cachedPiecePath(l.cache, d)
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("piece %s is recorded complete, but its file: %v", d, err)
		return
	}
	if fi.Size() != size {
		t.Errorf("piece %s is recorded complete with %d bytes, its file has %d", d, size, fi.Size())
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	id := crashFileID{ino: int64(st.Ino), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if l.verified[d] == id {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("piece %s is recorded complete, but reading its file: %v", d, err)
		return
	}
	if got := meta.Sum(b); got != d {
		t.Errorf("piece %s is recorded complete, but its file hashes to %s", d, got)
		return
	}
	l.verified[d] = id
	l.stats.hashed++
}

// crashReadDB opens a cache's database read-only, runs bbolt's check, and
// returns the pieces recorded complete.
func crashReadDB(t *testing.T, cache string) map[meta.Digest]int64 {
	t.Helper()
	recorded := map[meta.Digest]int64{}
	withCacheDB(t, cache, func(db *bbolt.DB) error {
		return db.View(func(tx *bbolt.Tx) error {
			var errs []error
			for err := range tx.Check() {
				errs = append(errs, err)
			}
			if len(errs) > 0 {
				return fmt.Errorf("bbolt check: %w", errors.Join(errs...))
			}
			b := tx.Bucket([]byte(piecesTable))
			if b == nil {
				return errors.New("no bucket " + piecesTable)
			}
			return b.ForEach(func(k, v []byte) error {
				d, err := crashRecord(k, v)
				if err == nil {
					recorded[d] = int64(binary.BigEndian.Uint64(v))
				}
				return err
			})
		})
	})
	return recorded
}

// crashRecord checks the shape of a pieces record and returns its digest.
func crashRecord(k, v []byte) (meta.Digest, error) {
	var d meta.Digest
	if len(k) != len(d) || len(v) != 8 {
		return d, fmt.Errorf("bucket %s: key %x with value %x, want 32 and 8 bytes", piecesTable, k, v)
	}
	copy(d[:], k)
	return d, nil
}
