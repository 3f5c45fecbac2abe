package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDamagedPieceFile damages one complete piece file of a cache no mount
// is using, mounts the cache again, and checks that reads return the
// piece's right bytes, that the damaged piece (and only it) is fetched
// again, and that the cache left behind is sound.
func TestDamagedPieceFile(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
	}{
		{"truncated", func(t *testing.T, path string, size int64) {
			if err := os.Truncate(path, size/2); err != nil {
				t.Fatal(err)
			}
		}},
		// Same size, wrong bytes: only hashing the file can tell.
		{"flipped-byte", func(t *testing.T, path string, size int64) { dmgFlipByte(t, path, size/2) }},
		{"deleted", func(t *testing.T, path string, _ int64) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			origin := newCountingOrigin(t, fx.out)
			cache := dmgPopulate(t, origin)
			p := dmgBigPieces(t)
			tc.damage(t, cachedPiecePath(cache, p.target.piece.Digest), p.target.piece.Size)
			dmgExpectRepaired(t, origin, cache, p)
		})
	}
}

// dmgExpectRepaired mounts a cache whose target piece was damaged and
// reads the damaged piece and its neighbours.
func dmgExpectRepaired(t *testing.T, origin *countingOrigin, cache string, p dmgPieces) {
	t.Helper()
	targetURL := dmgPieceURL(p.target.piece.Digest)
	before := map[string]int{targetURL: origin.Gets(targetURL)}
	for _, n := range p.neighbours {
		before[dmgPieceURL(n.piece.Digest)] = origin.Gets(dmgPieceURL(n.piece.Digest))
	}
	m := startMount(t, origin.URL(), cache)
	// The big file's pieces start at offset 0 of their piece, so the
	// middle of the piece, where a byte was flipped, is here in the file.
	expectRange(t, m.dir, fx.tree.big, p.target.start+p.target.length/2, 4096)
	expectRange(t, m.dir, fx.tree.big, p.target.start, p.target.length)
	if got := origin.Gets(targetURL) - before[targetURL]; got < 1 {
		t.Errorf("the damaged piece %s was not fetched again (%d GETs after the remount), want at least 1", p.target.piece.Digest, got)
	}
	for _, n := range p.neighbours {
		expectRange(t, m.dir, fx.tree.big, n.start, n.length)
		u := dmgPieceURL(n.piece.Digest)
		if got := origin.Gets(u) - before[u]; got != 0 {
			t.Errorf("undamaged cached piece %s (at %d) fetched %d times after the remount, want 0", n.piece.Digest, n.start, got)
		}
	}
	m.Stop(t)
	checkDBIntegrity(t, cache)
	checkRecordedPieces(t, cache)
	dmgCheckPieceFile(t, cache, p.target.piece)
	dmgCheckNoStrays(t, cache)
}

// dmgCorruptName is the name a corrupt database is moved aside to.
var dmgCorruptName = regexp.MustCompile(`^piecefs\.db\.corrupt-([0-9]+)$`)

// TestDamagedDB loses or damages the database of a cache no mount is
// using, and checks that a mount starts anyway, moves a damaged database
// aside (keeping its bytes, for a post-mortem) with an error in the log,
// reads right by fetching again what the lost database recorded, and
// leaves a sound cache.
func TestDamagedDB(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(t *testing.T, path string)
		corrupt bool // whether the mount must move the file aside
	}{
		{"deleted", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"garbage", dmgGarbage, true},
		{"truncated-to-half", func(t *testing.T, path string) {
			// Half of the part in use: half of the file may cut only
			// preallocated space, which loses nothing.
			used, _ := dmgDBUsed(t, path)
			if err := os.Truncate(path, used/2); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"flipped-byte", func(t *testing.T, path string) {
			_, off := dmgDBUsed(t, path)
			dmgFlipByte(t, path, off)
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			origin := newCountingOrigin(t, fx.out)
			cache := dmgPopulate(t, origin)
			db := filepath.Join(cache, cacheDB)
			tc.damage(t, db)
			damaged, _ := os.ReadFile(db) // nil once deleted
			start := time.Now()
			before := origin.PieceGets()

			m := startMount(t, origin.URL(), cache)
			expectRange(t, m.dir, fx.tree.big, dmgFrom, dmgLen)
			compareHashes(t, m.dir, fx.tree.small[:5])
			if origin.PieceGets() == before {
				t.Errorf("no piece fetched again, though the database that recorded them was lost")
			}
			m.Stop(t)

			dmgCheckMovedAside(t, cache, damaged, tc.corrupt, start)
			if tc.corrupt && !dmgErrorLogged(m.Stderr()) {
				t.Errorf("no level=error line in the mount's log about the corrupt database:\n%s", m.stderrTail())
			}
			checkDBIntegrity(t, cache)
			if n := checkRecordedPieces(t, cache); n == 0 {
				t.Errorf("nothing recorded complete in the new database after reading")
			}
			dmgCheckNoStrays(t, cache)
		})
	}
}

// dmgCheckMovedAside checks the piecefs.db.corrupt-<unix time> files in
// cache: exactly one holding the damaged bytes if corrupt, none otherwise.
func dmgCheckMovedAside(t *testing.T, cache string, damaged []byte, corrupt bool, since time.Time) {
	t.Helper()
	entries, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	var aside []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), cacheDB+".corrupt") {
			aside = append(aside, e.Name())
		}
	}
	if !corrupt {
		if len(aside) > 0 {
			t.Errorf("%q in the cache, want no corrupt database moved aside", aside)
		}
		return
	}
	if len(aside) != 1 {
		t.Fatalf("files %q in the cache, want one %s.corrupt-<unix time>", aside, cacheDB)
	}
	t.Logf("moved aside: %s", aside[0])
	match := dmgCorruptName.FindStringSubmatch(aside[0])
	if match == nil {
		t.Errorf("moved aside as %q, want %s.corrupt-<unix time>", aside[0], cacheDB)
	} else if sec, _ := strconv.ParseInt(match[1], 10, 64); sec < since.Unix()-1 || sec > time.Now().Unix()+1 {
		t.Errorf("moved aside as %q: %d is not a unix time between the remount (%d) and now", aside[0], sec, since.Unix())
	}
	got, err := os.ReadFile(filepath.Join(cache, aside[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, damaged) {
		t.Errorf("%s: %d bytes that are not the damaged database's %d", aside[0], len(got), len(damaged))
	}
}
