package store

import (
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

func TestReconcile(t *testing.T) {
	good := content(1, 500)
	bad := content(2, 500)
	tests := []struct {
		name string
		// damage changes the closed cache directory dir, where piece bad
		// was committed; it returns the digest of a piece that must not
		// survive reopening.
		damage func(t *testing.T, dir string) meta.Digest
	}{
		{"part file removed", func(t *testing.T, dir string) meta.Digest {
			d := meta.Sum([]byte("half written"))
			writeFile(t, dir, meta.PiecePath(d)+partSuffix, []byte("half"))
			writeFile(t, dir, "manifests/"+d.Hex()+".json.123"+partSuffix, []byte("{"))
			return d
		}},
		{"record with missing file dropped", func(t *testing.T, dir string) meta.Digest {
			d := meta.Sum(bad)
			if err := os.Remove(filepath.Join(dir, meta.PiecePath(d))); err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{"record with longer file dropped", func(t *testing.T, dir string) meta.Digest {
			d := meta.Sum(bad)
			writeFile(t, dir, meta.PiecePath(d), append(bad, 0))
			return d
		}},
		{"record with shorter file dropped", func(t *testing.T, dir string) meta.Digest {
			d := meta.Sum(bad)
			writeFile(t, dir, meta.PiecePath(d), bad[:10])
			return d
		}},
		{"file without record removed", func(t *testing.T, dir string) meta.Digest {
			data := content(3, 100)
			d := meta.Sum(data)
			writeFile(t, dir, meta.PiecePath(d), data)
			return d
		}},
		{"malformed record dropped", func(t *testing.T, dir string) meta.Digest {
			d := meta.Sum(bad)
			updateDB(t, dir, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte(BucketPieces)).Put(d[:], []byte{1, 2, 3})
			})
			return d
		}},
		{"stray file removed", func(t *testing.T, dir string) meta.Digest {
			writeFile(t, dir, "pieces/ab/not-a-digest", []byte("x"))
			writeFile(t, dir, "pieces/stray", []byte("x"))
			return meta.Digest{}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, dir, Options{})
			dGood := putT(t, s, good)
			putT(t, s, bad)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// As a crash leaves it: see TestCleanClose for a directory
			// closed cleanly.
			unmark(t, dir)
			gone := tc.damage(t, dir)
			s = openT(t, dir, Options{})
			if s.Has(gone) || recorded(t, s, BucketPieces, gone) {
				t.Errorf("piece %s survived reopening", gone)
			}
			for _, f := range files(t, dir, piecesDir) {
				if f != meta.PiecePath(dGood) && f != meta.PiecePath(meta.Sum(bad)) {
					t.Errorf("file %s survived reopening", f)
				}
			}
			if got := files(t, dir, manifestsDir); len(got) != 0 {
				t.Errorf("files under manifests/ = %v, want none", got)
			}
			checkComplete(t, s, dGood, good)
			checkConsistent(t, s) // access times of dropped pieces pruned too
		})
	}
}

func writeFile(t *testing.T, dir, rel string, data []byte) {
	t.Helper()
	name := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func updateDB(t *testing.T, dir string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, DBName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// unmark deletes the mark of a clean close from the closed cache directory
// dir, as a crash would have.
func unmark(t *testing.T, dir string) {
	t.Helper()
	updateDB(t, dir, func(tx *bolt.Tx) error { return tx.Bucket([]byte(BucketClean)).Delete(cleanKey) })
}
