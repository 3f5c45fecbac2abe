package faults

import (
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/store"
)

// checkNoParts fails the test if a .part or .blocks file is left anywhere
// under dir.
func checkNoParts(t *testing.T, dir string) {
	t.Helper()
	walkFiles(t, dir, func(path string) {
		// The tree's pieces are one block each, so a fetch either
		// completes its piece or aborts its .blocks file: none is left.
		if strings.HasSuffix(path, ".part") || strings.HasSuffix(path, ".blocks") {
			t.Errorf("%s left behind", path)
		}
	})
}

// checkPieceFiles fails the test unless every file under dir/pieces named
// by a digest (see "Layout" in package store) hashes to that digest, and
// returns their digests.
func checkPieceFiles(t *testing.T, dir string) map[meta.Digest]bool {
	t.Helper()
	found := make(map[meta.Digest]bool)
	walkFiles(t, filepath.Join(dir, "pieces"), func(path string) {
		d, err := meta.ParseHex(filepath.Base(path))
		if err != nil {
			return
		}
		found[d] = true
		if got := hashFile(t, path); got != d {
			t.Errorf("%s holds bytes that hash to %s", path, got)
		}
	})
	return found
}

func walkFiles(t *testing.T, dir string, fn func(path string)) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.Type().IsRegular() {
			fn(path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
}

func hashFile(t *testing.T, path string) meta.Digest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var d meta.Digest
	h.Sum(d[:0])
	return d
}

// reopen opens the store on dir again, as the next mount would, after its
// reconcile.
func reopen(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("reopen store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
