package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// TestCleanShutdown stops a mount each way a user may and checks it exits
// 0, leaves no mount and no .part file, leaves a cache database that
// another process can open and that passes bbolt's check, and has recorded
// every block it read, complete pieces or partial ones.
func TestCleanShutdown(t *testing.T) {
	stops := map[string]func(t *testing.T, m *mount){
		"SIGTERM": func(t *testing.T, m *mount) { m.signal(syscall.SIGTERM) },
		"SIGINT":  func(t *testing.T, m *mount) { m.signal(syscall.SIGINT) },
		"umount":  func(t *testing.T, m *mount) { mustRun(t, "", "umount", m.dir) },
	}
	origin := newCountingOrigin(t, fx.out)
	for how, stop := range stops {
		t.Run(how, func(t *testing.T) {
			cache := t.TempDir()
			m := startMount(t, origin.URL(), cache)
			compareHashes(t, m.dir, fx.tree.small[10:20])
			expectRange(t, m.dir, fx.tree.big, 50<<20, 3<<20)
			stop(t, m)
			m.expectCleanExit(t, how)
			checkCleanCache(t, cache)
			for _, rel := range fx.tree.small[10:20] {
				checkReadRecorded(t, cache, rel, 0, fileSize(t, rel))
			}
			checkReadRecorded(t, cache, fx.tree.big, 50<<20, 3<<20)
		})
	}
	t.Run("new-cache-dir", func(t *testing.T) {
		cache := filepath.Join(t.TempDir(), "does", "not", "exist")
		m := startMount(t, origin.URL(), cache)
		compareHashes(t, m.dir, fx.tree.small[10:20])
		m.Stop(t)
		checkCleanCache(t, cache)
		for _, rel := range fx.tree.small[10:20] {
			checkReadRecorded(t, cache, rel, 0, fileSize(t, rel))
		}
	})
}

// checkCleanCache checks the cache a clean shutdown leaves: no .part
// file, a sound database, every complete piece whole and every recorded
// block of a partial one right, and something recorded of what was read
// (a read of small files fetches only their blocks, so what it leaves may
// be partial pieces only).
func checkCleanCache(t *testing.T, cache string) {
	t.Helper()
	if _, parts := cacheFiles(cache); len(parts) > 0 {
		t.Errorf(".part files left after a clean shutdown: %q", parts)
	}
	checkDBIntegrity(t, cache)
	complete := checkRecordedPieces(t, cache)
	partial := checkPartialPieces(t, cache, fx.out)
	if complete+len(partial) == 0 {
		t.Errorf("nothing recorded, complete or partial, after reading")
	}
}

// checkReadRecorded checks, on a cache no mount is using, that every block
// of the pieces that holds a byte of [off, +n) of the shared tree's file
// rel is recorded, in a complete piece or a partial one: a clean shutdown
// commits every block it fetched.
func checkReadRecorded(t *testing.T, cache, rel string, off, n int64) {
	t.Helper()
	m := loadManifest(t)
	complete := recordedPieces(t, cache)
	partials := blkPartials(t, cache)
	i, ok := m.Lookup(rel)
	if !ok {
		t.Fatalf("the manifest has no entry %q", rel)
	}
	var fileOff int64
	for _, x := range m.Entries[m.Inode(i)].Extents {
		from, to := max(off, fileOff), min(off+n, fileOff+x.Length)
		p := m.Pieces[x.Piece]
		if _, ok := complete[p.Digest]; from < to && !ok {
			first, last := meta.BlocksOf(x.Offset+from-fileOff, to-from, blkSize)
			have := partials[p.Digest].blocks
			for k := first; k <= last; k++ {
				if !slices.Contains(have, k) {
					t.Errorf("%s [%d, +%d) was read, but block %d of piece %s is not recorded after a clean shutdown (recorded partial: %v)",
						rel, off, n, k, p.Digest, have)
					break
				}
			}
		}
		fileOff += x.Length
	}
}

// fileSize is the size of the shared tree's source file rel.
func fileSize(t *testing.T, rel string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(fx.tree.root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
