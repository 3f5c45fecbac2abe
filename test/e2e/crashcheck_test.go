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
// pass, every piece recorded complete must be a piece of the tree with its
// file, of its size, hashing to its digest, and every block recorded of a
// partial piece must hold the piece's bytes in its .blocks file. It also
// notes the pieces the kill left a .part or a .blocks file of, recorded or
// not, and counts the files a write was cut short in.
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
	l.partials = checkPartialPieces(t, l.cache, l.tree.out)
	_, parts := cacheFiles(l.cache)
	l.parts, l.midWrite = l.parts[:0], len(parts)
	for _, p := range append(parts, blkPartialFiles(l.cache)...) {
		name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), partSuffix), blocksSuffix)
		d, err := meta.ParseHex(name)
		if err != nil {
			continue
		}
		l.parts = append(l.parts, d)
		// A .blocks file that no record names was written by this mount
		// (Open removes those a kill leaves): the kill came before its
		// first blocks were recorded, or during its completion.
		_, partial := l.partials[d]
		_, complete := l.recorded[d]
		if strings.HasSuffix(p, blocksSuffix) && !partial && !complete {
			l.midWrite++
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
