package e2e

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	// pinBound is the --disk-cache of TestPinSurvivesEviction: a small
	// part of the tree, more than the pinned directory.
	pinBound     = 16 << 20
	pinBoundFlag = "16MiB"
	// pinDir is the directory it pins.
	pinDir = "sizes"
)

// TestPinSurvivesEviction pins a directory with preheat --pin under a
// --disk-cache bound, reads four times the bound of other files, and
// checks, with status --json and getfattr, that the pinned files stay
// cached in full; that they read right after a restart with the origin
// down; that a pin over the bound fails before fetching and leaves the
// pins as they were; and that after unpin they are evicted like the rest.
// The memory tier is off so that every read goes through the disk tier.
func TestPinSurvivesEviction(t *testing.T) {
	requireTool(t, "getfattr")
	origin := newPhOrigin(t, fx.out)
	cache := t.TempDir()
	flags := []string{"--disk-cache", pinBoundFlag, "--memory-cache", "0"}
	m := startMount(t, origin.URL(), cache, flags...)
	files := phFilesUnder(pinDir)
	pinned := phBytes(phPieces(t, loadManifest(t), files))
	if pinned >= pinBound/2 {
		t.Fatalf("%s/ is %s of pieces: too much to pin under a bound of %s", pinDir, boundMiB(pinned), boundMiB(pinBound))
	}

	r := phMustRun(t, "preheat", "--pin", filepath.Join(m.dir, pinDir))
	if s := phParseSummary(t, r); !strings.Contains(s.rest, "pinned in the cache") {
		t.Errorf("preheat --pin: summary %q does not say what is pinned", s.rawLine)
	}
	pinCheck(t, m, files, true, "after preheat --pin")
	if st := phStatusOf(t, m.dir); st.Mount.Disk.PinnedBytes != pinned || st.Mount.Disk.Pins != 1 {
		t.Errorf("status after preheat --pin: %d bytes pinned by %d pins, want %d by 1", st.Mount.Disk.PinnedBytes, st.Mount.Disk.Pins, pinned)
	}

	// Pinning it again replaces the pin, and fetches nothing.
	gets := origin.PieceGets()
	phMustRun(t, "preheat", "--pin", filepath.Join(m.dir, pinDir))
	if st := phStatusOf(t, m.dir); st.Mount.Disk.PinnedBytes != pinned || st.Mount.Disk.Pins != 1 || origin.PieceGets() != gets {
		t.Errorf("status after a second preheat --pin of %s/: %d bytes pinned by %d pins after %d piece GETs, want %d by 1 after none",
			pinDir, st.Mount.Disk.PinnedBytes, st.Mount.Disk.Pins, origin.PieceGets()-gets, pinned)
	}

	// Eviction pressure: four times the bound of the big file.
	expectRange(t, m.dir, fx.tree.big, 0, 4*pinBound)
	st := phStatusOf(t, m.dir)
	if st.Mount.Disk.Evictions == 0 {
		t.Errorf("reading %s under a bound of %s evicted nothing: no pressure", boundMiB(4*pinBound), boundMiB(pinBound))
	}
	pinCheck(t, m, files, true, "after reading four times the bound")

	// A pin over the bound fails before it fetches, and changes no pin.
	phQuiet(t, origin.PieceGets)
	gets = origin.PieceGets()
	r = phRun(t, "preheat", "--pin", filepath.Join(m.dir, fx.tree.big))
	if r.code != 1 || !strings.Contains(r.stderr, "bound") {
		t.Errorf("preheat --pin of %s over the bound: want status 1 and an error naming the bound: %s", fx.tree.big, r)
	}
	phCheckPinError(t, r)
	if n := origin.PieceGets() - gets; n != 0 {
		t.Errorf("preheat --pin over the bound made %d piece GETs, want 0", n)
	}
	if st := phStatusOf(t, m.dir); st.Mount.Disk.PinnedBytes != pinned || st.Mount.Disk.Pins != 1 {
		t.Errorf("status after a pin over the bound failed: %d bytes pinned by %d pins, want %d by 1 as before", st.Mount.Disk.PinnedBytes, st.Mount.Disk.Pins, pinned)
	}
	m.Stop(t)
	boundCheckStoppedCache(t, cache, pinBound+pieceSize)

	// Restart with the origin down: the pins and their pieces are there.
	origin.SetDown(true)
	m = startMount(t, origin.URL(), cache, flags...)
	phCompareHashes(t, m.dir, files)
	pinCheck(t, m, files, true, "after a restart")
	expectEIO(t, m.dir, fx.tree.big, 0, 4096) // evicted, and the origin is down

	origin.SetDown(false)
	r = phMustRun(t, "unpin", filepath.Join(m.dir, pinDir))
	if !strings.HasPrefix(r.stdout, "unpinned 1 pins") {
		t.Errorf("unpin: stdout %q, want \"unpinned 1 pins ...\"", r.stdout)
	}
	pinCheck(t, m, files, false, "after unpin")
	if st := phStatusOf(t, m.dir); st.Mount.Disk.PinnedBytes != 0 || st.Mount.Disk.Pins != 0 {
		t.Errorf("status after unpin: %d bytes pinned by %d pins, want none", st.Mount.Disk.PinnedBytes, st.Mount.Disk.Pins)
	}
	expectRange(t, m.dir, fx.tree.big, 4*pinBound, 4*pinBound)
	d := phStatusOf(t, filepath.Join(m.dir, pinDir)).Dirs
	if len(d) != 1 || d[0].Cached >= d[0].Size {
		t.Errorf("status of %s/ after unpin and reading four times the bound: %+v, want some of it evicted", pinDir, d)
	}
	m.Stop(t)
}

// pinCheck checks what status --json and getfattr say of files: cached in
// full, and pinned or not. An empty file is never pinned.
func pinCheck(t *testing.T, m *mount, files []string, pinned bool, when string) {
	t.Helper()
	st := phStatusOf(t, filepath.Join(m.dir, pinDir))
	for _, f := range files {
		fs := st.file(t, f)
		want := pinned && fs.Size > 0
		if fs.Pinned != want || (pinned && fs.Cached != fs.Size) {
			t.Errorf("status %s: %s pinned %v with %d of %d bytes cached; want pinned %v and, pinned, all cached", when, f, fs.Pinned, fs.Cached, fs.Size, want)
		}
		path := filepath.Join(m.dir, f)
		wantAttr := map[bool]string{true: "1", false: "0"}[want]
		if got := phGetfattr(t, path, xattrPinnedName); got != wantAttr {
			t.Errorf("getfattr %s: %s %q, want %q", when, f, got, wantAttr)
		}
		if got := phGetfattr(t, path, xattrCachedName); pinned && got != strconv.FormatInt(fs.Size, 10) {
			t.Errorf("getfattr %s: %s %s %q, want its size %d", when, f, xattrCachedName, got, fs.Size)
		}
	}
}

// The attributes that say what the cache holds of a file.
const (
	xattrCachedName = "user.piecefs.cached"
	xattrPinnedName = "user.piecefs.pinned"
)
