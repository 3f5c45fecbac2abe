package e2e

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
	"go.etcd.io/bbolt"
)

// The cache directory layout the mount promises.
const (
	cacheDB     = "piecefs.db"
	piecesDir   = "pieces"
	piecesTable = "pieces" // bbolt bucket: digest (32 bytes) → size (8 bytes, big-endian)
	partSuffix  = ".part"
)

// withCacheDB opens a cache's database read-only for the duration of fn.
// No mount may be using the cache: bbolt's lock would make this time out;
// and the mount cannot open it while fn runs.
func withCacheDB(t *testing.T, cache string, fn func(db *bbolt.DB) error) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(cache, cacheDB), 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open the cache database: %v", err)
	}
	err = fn(db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("read the cache database: %v", err)
	}
}

// recordedPieces returns what bucket pieces records: digest → size.
func recordedPieces(t *testing.T, cache string) map[meta.Digest]int64 {
	t.Helper()
	got := map[meta.Digest]int64{}
	withCacheDB(t, cache, func(db *bbolt.DB) error {
		return db.View(func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(piecesTable))
			if b == nil {
				return errors.New("no bucket " + piecesTable)
			}
			return b.ForEach(func(k, v []byte) error {
				var d meta.Digest
				if len(k) != len(d) || len(v) != 8 {
					t.Errorf("bucket %s: key %x with value %x, want 32 and 8 bytes", piecesTable, k, v)
					return nil
				}
				copy(d[:], k)
				got[d] = int64(binary.BigEndian.Uint64(v))
				return nil
			})
		})
	})
	return got
}

// checkRecordedPieces checks that every piece the database calls complete
// is on disk with that size and that hash, and returns how many there are.
func checkRecordedPieces(t *testing.T, cache string) int {
	t.Helper()
	recorded := recordedPieces(t, cache)
	for d, size := range recorded {
		b, err := os.ReadFile(cachedPiecePath(cache, d))
		switch {
		case err != nil:
			t.Errorf("recorded complete, but %v", err)
		case int64(len(b)) != size:
			t.Errorf("piece %s: recorded %d bytes, file has %d", d, size, len(b))
		case meta.Sum(b) != d:
			t.Errorf("piece %s: file's sha256 is %x", d, sha256.Sum256(b))
		}
	}
	return len(recorded)
}

// checkDBIntegrity runs bbolt's own consistency check.
func checkDBIntegrity(t *testing.T, cache string) {
	t.Helper()
	withCacheDB(t, cache, func(db *bbolt.DB) error {
		err := db.View(func(tx *bbolt.Tx) error {
			var errs []error
			for err := range tx.Check() {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		})
		if err != nil {
			t.Errorf("bbolt check of the cache database: %v", err)
		}
		return nil
	})
}

func cachedPiecePath(cache string, d meta.Digest) string {
	return filepath.Join(cache, filepath.FromSlash(meta.PiecePath(d)))
}

// cacheFiles lists the cache's piece files: complete ones and .part ones.
// Partial pieces' .blocks files are neither (blkPartialFiles lists them).
// It tolerates files vanishing during the walk, so it can poll a live mount.
func cacheFiles(cache string) (complete, parts []string) {
	_ = filepath.WalkDir(filepath.Join(cache, piecesDir), func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir() || strings.HasSuffix(p, blocksSuffix):
			return nil
		case strings.HasSuffix(p, partSuffix):
			parts = append(parts, p)
		default:
			complete = append(complete, p)
		}
		return nil
	})
	return complete, parts
}

// checkPartialPieces checks, on a cache no mount is using, every partial
// piece it records against the publication in out (a publish output):
// each recorded block is in the piece's .blocks file with the piece's
// bytes, and no piece is recorded both partial and complete. It returns
// the partial records.
func checkPartialPieces(t *testing.T, cache, out string) map[meta.Digest]blkPartial {
	t.Helper()
	pieces := map[meta.Digest][]byte{}
	for d := range blkPartials(t, cache) {
		b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(meta.PiecePath(d))))
		if err == nil && meta.Sum(b) == d {
			pieces[d] = b // else blkCheckPartials says the publication has no such piece
		}
	}
	return blkCheckPartials(t, cache, pieces)
}

// recordedBytes is what a cache's records hold: the bytes of its complete
// pieces and of the recorded blocks of its partial ones, which is what the
// disk bound counts. No mount may be using the cache.
func recordedBytes(t *testing.T, cache string) (complete, partial int64) {
	t.Helper()
	for _, size := range recordedPieces(t, cache) {
		complete += size
	}
	for _, p := range blkPartials(t, cache) {
		for _, k := range p.blocks {
			_, n := meta.BlockSpan(p.size, blkSize, k)
			partial += n
		}
	}
	return complete, partial
}
