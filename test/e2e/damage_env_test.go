package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDamagedUnwritable gives mounts cache directories they cannot write
// (as root, so permission bits would not stop it) and checks each exits 1
// at start with a one-line error naming the directory.
func TestDamagedUnwritable(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	cases := []struct {
		name  string
		cache func(t *testing.T) string
	}{
		{"parent-is-a-file", func(t *testing.T) string {
			file := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(file, []byte("not a directory\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(file, "cache")
		}},
		{"read-only-tmpfs", func(t *testing.T) string {
			return dmgTmpfs(t, unix.MS_RDONLY, "size=1m")
		}},
		{"inside-read-only-tmpfs", func(t *testing.T) string {
			return filepath.Join(dmgTmpfs(t, unix.MS_RDONLY, "size=1m"), "cache")
		}},
		// A cache that was fine and is now on a read-only file system.
		{"read-only-bind-of-a-used-cache", func(t *testing.T) string {
			return dmgReadOnlyBind(t, dmgPopulate(t, origin))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cache := tc.cache(t)
			e := dmgMountExit(t, origin.URL(), cache, time.Minute)
			e.expectError(t, cache)
		})
	}
}

// TestDamagedDiskFull mounts with its cache on a 3 MiB tmpfs and reads a
// 300 MiB file through it: every write of a piece or of a partial piece's
// blocks past the first few fails with ENOSPC, yet the bytes read must be
// right, and the cache must be left with no .part file, no .blocks file
// without its record, and nothing recorded that is not right: a complete
// piece whole, a partial piece's recorded blocks in its .blocks file.
func TestDamagedDiskFull(t *testing.T) {
	cache := dmgTmpfs(t, 0, "size=3m,mode=0700")
	origin := newCountingOrigin(t, fx.out)
	m := startMount(t, origin.URL(), cache)
	compareHashes(t, m.dir, []string{fx.tree.big})
	// Read again some of what could not be stored, and small files packed
	// in pieces of their own.
	expectRange(t, m.dir, fx.tree.big, 200<<20, 3<<20)
	compareHashes(t, m.dir, fx.tree.small[:20])
	var st unix.Statfs_t
	if err := unix.Statfs(cache, &st); err == nil {
		t.Logf("the cache's tmpfs: %d of %d KiB free; %d piece GETs",
			st.Bavail*uint64(st.Bsize)>>10, st.Blocks*uint64(st.Bsize)>>10, origin.PieceGets())
	}
	m.Stop(t)

	if _, parts := cacheFiles(cache); len(parts) > 0 {
		t.Errorf(".part files left on the full disk: %q", firstN(parts))
	}
	checkDBIntegrity(t, cache)
	n := checkRecordedPieces(t, cache)
	dmgCheckNoStrays(t, cache) // checks the partial pieces' recorded blocks too
	t.Logf("%d pieces recorded complete and %d partial on the full disk", n, len(blkPartials(t, cache)))
}

// TestDamagedInUse starts a second mount on a cache a first mount is
// using: it must fail soon with an error that says so, and leave the
// first mount working.
func TestDamagedInUse(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()
	first := startMount(t, origin.URL(), cache)
	compareHashes(t, first.dir, fx.tree.small[:3])

	// Contract: within about 2 s; the limit is a hang detector with room
	// for a loaded machine, and the elapsed time is logged.
	const limit = 5 * time.Second
	e := dmgMountExit(t, origin.URL(), cache, time.Minute)
	e.expectError(t, "in use")
	if e.elapsed > limit {
		t.Errorf("the second mount took %v to fail, want at most %v", e.elapsed.Round(time.Millisecond), limit)
	}

	compareHashes(t, first.dir, fx.tree.small[3:10])
	expectRange(t, first.dir, fx.tree.big, 20<<20, 2<<20)
	first.Stop(t)
	checkCleanCache(t, cache)
}
