package e2e

import (
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPreheatSubtree preheats two directories of a mount, stops the
// origin, and reads them back: every file of them right, while a small
// file outside them and a range of the big file fail with EIO.
func TestPreheatSubtree(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	m := startMount(t, origin.URL(), t.TempDir())
	man := loadManifest(t)
	dirs := []string{"sizes", "small/a1"}
	files := phFilesUnder(dirs...)
	pieces := phPieces(t, man, files)

	r := phMustRun(t, "preheat", filepath.Join(m.dir, dirs[0]), filepath.Join(m.dir, dirs[1]))
	sum := phParseSummary(t, r)
	if sum.files != len(files) || sum.pieces != len(pieces) || sum.held != "0 bytes" || sum.fetched != sum.total {
		t.Errorf("summary %q: want %d files, %d pieces, all fetched, none already cached", sum.rawLine, len(files), len(pieces))
	}
	if r.stderr != "" {
		t.Errorf("preheat without a terminal wrote on stderr: %q", r.stderr)
	}
	if got := origin.PieceGets(); got != int64(len(pieces)) {
		t.Errorf("preheat of %d pieces made %d piece GETs, want one each", len(pieces), got)
	}
	st := phStatusOf(t, filepath.Join(m.dir, dirs[0]), filepath.Join(m.dir, dirs[1]))
	for _, f := range files {
		if fs := st.file(t, f); fs.Cached != fs.Size {
			t.Errorf("status after the preheat: %s has %d of %d bytes cached", f, fs.Cached, fs.Size)
		}
	}

	origin.Stop()
	phCompareHashes(t, m.dir, files)
	outsider := phOutsider(t, man, pieces)
	expectEIO(t, m.dir, outsider, 0, fileSize(t, outsider))
	expectEIO(t, m.dir, fx.tree.big, 100<<20, 4096)
	// A failed read breaks nothing: the preheated files still read.
	compareHashes(t, m.dir, files[:3])
	m.Stop(t)
}

// TestPreheatFirstReadFromMemory checks with the mount's metrics that the
// first read of a file after its preheat is served from the memory tier:
// the bytes read from memory grow by the file's size, from disk and from
// the network not at all.
func TestPreheatFirstReadFromMemory(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	addr := phFreeAddr(t)
	m := startMount(t, origin.URL(), t.TempDir(), "--metrics-addr", addr, "--memory-cache", "64MiB")
	const rel = "sizes/3piece+17"
	size := fileSize(t, rel)
	phMustRun(t, "preheat", filepath.Join(m.dir, rel))
	url := "http://" + addr + "/metrics"
	before := phScrape(t, url)
	gets := origin.PieceGets()
	compareHashes(t, m.dir, []string{rel})
	after := phScrape(t, url)

	grew := func(tier string) float64 {
		key := `piecefs_read_bytes_total{tier="` + tier + `"}`
		if _, ok := after[key]; !ok {
			t.Fatalf("no series %s in the metrics", key)
		}
		return after[key] - before[key]
	}
	if got := grew("memory"); got != float64(size) {
		t.Errorf("reading %s (%d bytes) after its preheat: %.0f bytes read from memory, want %d", rel, size, got, size)
	}
	for _, tier := range []string{"disk", "network"} {
		if got := grew(tier); got != 0 {
			t.Errorf("reading %s after its preheat: %.0f bytes read from %s, want 0", rel, got, tier)
		}
	}
	for _, tier := range []string{"disk", "network"} {
		key := `piecefs_reads_total{tier="` + tier + `"}`
		if got := after[key] - before[key]; got != 0 {
			t.Errorf("reading %s after its preheat: %s grew by %.0f, want 0", rel, key, got)
		}
	}
	// Readahead follows the manifest's pieces past the file's end (a tree
	// of small files is read in order), so GETs may follow the read; the
	// read itself waited for none.
	t.Logf("piece GETs during the read (readahead of the next pieces): %d", origin.PieceGets()-gets)
	m.Stop(t)
}

// TestPreheatCachedTree preheats the whole tree, then again, through the
// same mount and through a new one: the later preheats send no request
// and say everything was already cached. So does a preheat of files that
// reads cached in full.
func TestPreheatCachedTree(t *testing.T) {
	t.Run("preheated", func(t *testing.T) {
		origin := newCountingOrigin(t, fx.out)
		cache := t.TempDir()
		m := startMount(t, origin.URL(), cache)
		first := phParseSummary(t, phMustRun(t, "preheat", m.dir))
		if want := len(phFilesUnder("")); first.files < want {
			t.Errorf("preheat of the root: %q, want at least the %d regular files of the tree", first.rawLine, want)
		}
		gets := origin.PieceGets()
		again := func(m *mount, how string) {
			t.Helper()
			s := phParseSummary(t, phMustRun(t, "preheat", m.dir))
			if s.fetched != "0 bytes" || s.held != s.total || s.total != first.total || s.rest != "" {
				t.Errorf("preheat of the cached tree, %s: %q, want everything (%s) already cached", how, s.rawLine, first.total)
			}
			js := phDecodeSummary(t, phMustRun(t, "preheat", "--json", m.dir))
			if js.Fetched != 0 || js.Failed != 0 || js.Held != js.Total || len(js.FailedFiles) != 0 {
				t.Errorf("preheat --json of the cached tree, %s: %+v, want all held", how, js)
			}
			if n := origin.PieceGets() - gets; n != 0 {
				t.Errorf("preheat of the cached tree, %s: %d piece GETs, want 0", how, n)
			}
		}
		again(m, "same mount")
		m.Stop(t)
		m = startMount(t, origin.URL(), cache)
		again(m, "after a remount")
		m.Stop(t)
	})

	t.Run("read", func(t *testing.T) {
		origin := newCountingOrigin(t, fx.out)
		m := startMount(t, origin.URL(), t.TempDir())
		files := phFilesUnder("sizes")
		compareHashes(t, m.dir, files)
		dir := filepath.Join(m.dir, "sizes")
		// Blocks are recorded just after the reads are answered.
		waitFor(t, 20*time.Second, "status to call every file of sizes/ cached", func() bool {
			d := phStatusOf(t, dir).Dirs
			return len(d) == 1 && d[0].Cached == d[0].Size
		})
		phQuiet(t, origin.PieceGets) // readahead of the pieces after sizes/
		gets := origin.PieceGets()
		s := phParseSummary(t, phMustRun(t, "preheat", dir))
		if n := origin.PieceGets() - gets; n != 0 || s.fetched != "0 bytes" {
			t.Errorf("preheat of sizes/, every byte of which status calls cached: %d piece GETs and %q, want no GET and nothing fetched", n, s.rawLine)
		}
		m.Stop(t)
	})
}

// phFailedLine is a file a preheat names on stderr as failed.
var phFailedLine = regexp.MustCompile(`^piecefs preheat: (/[^:]+): (.+)$`)

// TestPreheatOriginFails has the origin answer 500 for one piece and send
// bytes that do not verify for another: the preheat exits 1, naming on
// stderr exactly the files that have one of them, and every other file is
// cached.
func TestPreheatOriginFails(t *testing.T) {
	origin := newPhOrigin(t, fx.out)
	m := startMount(t, origin.URL(), t.TempDir())
	man := loadManifest(t)
	dirs := []string{"sizes", "small/a2"}
	files := phFilesUnder(dirs...)
	bad500 := spanAt(t, fileSpans(t, man, "sizes/3piece+17"), pieceSize+5).piece
	badData := spanAt(t, fileSpans(t, man, "sizes/piece"), 0).piece
	small := fx.tree.small[slices.IndexFunc(fx.tree.small, func(f string) bool { return strings.HasPrefix(f, "small/a2/") })]
	badSmall := spanAt(t, fileSpans(t, man, small), 0).piece
	origin.Fail(bad500.Digest, phFail500)
	origin.Fail(badData.Digest, phWrongData)
	origin.Fail(badSmall.Digest, phFail500)
	want := map[string]string{} // file → the fault it meets
	for _, f := range files {
		for _, s := range fileSpans(t, man, f) {
			switch s.piece.Digest {
			case bad500.Digest, badSmall.Digest:
				want["/"+f] = "500"
			case badData.Digest:
				want["/"+f] = "bad bytes"
			}
		}
	}

	r := phRun(t, "preheat", filepath.Join(m.dir, dirs[0]), filepath.Join(m.dir, dirs[1]))
	if r.code != 1 {
		t.Errorf("preheat with failing pieces: want status 1: %s", r)
	}
	got := map[string]string{}
	for _, l := range lines([]byte(r.stderr)) {
		if g := phFailedLine.FindStringSubmatch(l); g != nil {
			got[g[1]] = g[2]
		}
	}
	for f, fault := range want {
		if _, ok := got[f]; !ok {
			t.Errorf("stderr does not name %s (its piece: %s)", f, fault)
		}
	}
	for f, msg := range got {
		if _, ok := want[f]; !ok {
			t.Errorf("stderr names %s, whose pieces are fine: %s", f, msg)
		}
		t.Logf("named %s: %s", f, msg)
	}
	if s := phParseSummary(t, r); !strings.Contains(s.rest, "failed, in "+phPlural(len(want), "file")) {
		t.Errorf("summary %q does not say it failed in %d files", s.rawLine, len(want))
	}

	// The others are cached: status says so, and they read with the origin down.
	origin.SetDown(true)
	st := phStatusOf(t, filepath.Join(m.dir, dirs[0]), filepath.Join(m.dir, dirs[1]))
	var good []string
	for _, f := range files {
		fs := st.file(t, f)
		_, failed := want["/"+f]
		switch {
		case !failed && fs.Cached != fs.Size:
			t.Errorf("%s, none of whose pieces failed: %d of %d bytes cached", f, fs.Cached, fs.Size)
		case failed && fs.Cached == fs.Size:
			t.Errorf("%s, which has a failed piece: all %d bytes cached", f, fs.Size)
		case !failed:
			good = append(good, f)
		}
	}
	phCompareHashes(t, m.dir, good)
	m.Stop(t)
}

// phPlural is "1 file", "2 files", as the summary words counts.
func phPlural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// TestPreheatInterrupted sends SIGINT to a preheat whose origin stalls
// after a few pieces: it exits non-zero at once; the mount keeps working;
// what was fetched is cached and reads back right with the origin still
// stalling; a second preheat finishes the job; and piecefs verify finds
// the cache sound after the unmount.
func TestPreheatInterrupted(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()
	addr := phFreeAddr(t)
	metrics := "http://" + addr + "/metrics"
	m := startMount(t, origin.URL(), cache, "--metrics-addr", addr)
	dir := filepath.Join(m.dir, "small")
	files := phFilesUnder("small")
	origin.StallAfter(6)
	p := startProc(t, fx.bin, "preheat", dir)
	waitFor(t, 30*time.Second, "a piece GET to stall", func() bool { return origin.Stalled() > 0 })
	cachedFiles := func() []string {
		var out []string
		for _, f := range phStatusOf(t, dir).Files {
			if f.Cached == f.Size {
				out = append(out, strings.TrimPrefix(f.Path, "/"))
			}
		}
		return out
	}
	waitFor(t, 20*time.Second, "a file to be cached in full", func() bool { return len(cachedFiles()) > 0 })

	sent := time.Now()
	p.signal(syscall.SIGINT)
	if !p.wait(10 * time.Second) {
		t.Fatalf("preheat still running 10s after SIGINT\nstderr: %s", p.stderrTail())
	}
	took := time.Since(sent)
	if code := p.exitCode(); code == 0 || took > 3*time.Second {
		t.Errorf("preheat exited with status %d %v after SIGINT, want non-zero within 3s\nstderr: %s", code, took, p.stderrTail())
	}
	if !strings.Contains(string(p.Stderr()), "interrupted") {
		t.Errorf("preheat's stderr after SIGINT does not say it was interrupted: %q", p.stderrTail())
	}
	if m.exited() {
		t.Fatalf("the mount exited after the preheat's SIGINT\nstderr: %s", m.stderrTail())
	}

	// Every new GET still stalls, so what reads right now comes from the
	// cache; the metrics say no read waited for the network.
	origin.StallAfter(0)
	cached := cachedFiles()
	network := `piecefs_read_bytes_total{tier="network"}`
	before := phScrape(t, metrics)[network]
	phCompareHashes(t, m.dir, cached)
	if got := phScrape(t, metrics)[network] - before; got != 0 {
		t.Errorf("reading the %d files status calls cached read %.0f bytes from the network", len(cached), got)
	}
	t.Logf("SIGINT after %d piece GETs; preheat exited in %v; %d of %d files cached", origin.PieceGets(), took.Round(time.Millisecond), len(cached), len(files))

	origin.StallAfter(-1)
	s := phParseSummary(t, phMustRun(t, "preheat", dir))
	if s.held == "0 bytes" || s.rest != "" {
		t.Errorf("second preheat: %q, want some already cached and nothing failed", s.rawLine)
	}
	phCompareHashes(t, m.dir, files)
	m.Stop(t)
	v := runVerify(t, "--cache", cache)
	if v.code != 0 || v.nbad != 0 || v.checked <= 0 {
		t.Errorf("piecefs verify after the interrupted preheat: status %d, %d checked, %d bad\nstdout: %s\nstderr: %s", v.code, v.checked, v.nbad, v.stdout, v.stderr)
	}
	sigCheckCache(t, cache)
}

// TestPreheatOfflineInterrupted sends SIGINT to a preheat --cache, with no
// mount, whose origin stalls after six pieces: it exits non-zero at once,
// the six pieces it fetched are in the cache, which piecefs verify finds
// sound, and a second run finishes the job, which a mount then reads with
// the origin stopped.
func TestPreheatOfflineInterrupted(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()
	const served = 6
	origin.StallAfter(served)
	p := startProc(t, fx.bin, "preheat", "--cache", cache, origin.URL(), "small")
	waitFor(t, 30*time.Second, "a piece GET to stall", func() bool { return origin.Stalled() > 0 })
	// The pieces served before the stall may still be on their way into
	// the cache (fetches run side by side): wait until each has its name,
	// which it gets just before its record.
	waitFor(t, 30*time.Second, "the pieces served to be named in the cache", func() bool {
		return len(cachedPieceFiles(t, cache)) >= served
	})
	sent := time.Now()
	p.signal(syscall.SIGINT)
	if !p.wait(40 * time.Second) {
		t.Fatalf("preheat --cache still running 40s after SIGINT\nstderr: %s", p.stderrTail())
	}
	took := time.Since(sent)
	if code := p.exitCode(); code == 0 || took > 3*time.Second {
		t.Errorf("preheat --cache exited with status %d %v after SIGINT, want non-zero within 3s\nstderr: %s", code, took.Round(time.Millisecond), p.stderrTail())
	}
	// A commit the signal caught between a piece's name and its record
	// is discarded, as a shutdown may: the next open removes the file.
	// What was recorded is every piece that was served, or all but those.
	v := runVerify(t, "--cache", cache)
	if v.code != 0 || v.nbad != 0 || v.checked < 1 || v.checked > served {
		t.Errorf("piecefs verify after the interrupted preheat --cache: status %d, %d pieces checked, %d bad; want 1 to the %d pieces served, none bad\nstdout: %s\nstderr: %s",
			v.code, v.checked, v.nbad, served, v.stdout, v.stderr)
	}
	sigCheckCache(t, cache)

	origin.StallAfter(-1)
	s := phParseSummary(t, phMustRun(t, "preheat", "--cache", cache, origin.URL(), "small"))
	if s.held == "0 bytes" || s.rest != "" {
		t.Errorf("second preheat --cache: %q, want some already cached and nothing failed", s.rawLine)
	}
	origin.Stop()
	m := startMount(t, origin.URL(), cache)
	phCompareHashes(t, m.dir, phFilesUnder("small"))
	m.Stop(t)
}

// TestPreheatOfflineCache preheats a subtree into a fresh cache with no
// mount running, mounts that cache with the origin stopped and reads the
// subtree; a preheat or unpin --cache of a cache a mount holds fails
// clearly, and so, before fetching, does a --pin over the bound.
func TestPreheatOfflineCache(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()
	files := phFilesUnder("sizes", "small/a3")
	pieces := phPieces(t, loadManifest(t), files)
	r := phMustRun(t, "preheat", "--cache", cache, origin.URL(), "sizes", "/small/a3")
	if s := phParseSummary(t, r); s.files != len(files) || s.pieces != len(pieces) || s.fetched != s.total {
		t.Errorf("offline preheat: %q, want %d files, %d pieces, all fetched", s.rawLine, len(files), len(pieces))
	}
	if got := origin.PieceGets(); got != int64(len(pieces)) {
		t.Errorf("offline preheat of %d pieces made %d piece GETs", len(pieces), got)
	}
	gets := origin.PieceGets()
	// A bound above what the cache holds, so that opening the cache with
	// it evicts nothing, and below the big file.
	r = phRun(t, "preheat", "--cache", cache, "--pin", "--disk-cache", "64MiB", origin.URL(), fx.tree.big)
	if r.code != 1 || !strings.Contains(r.stderr, "bound") || origin.PieceGets() != gets {
		t.Errorf("offline preheat --pin of %s over a 64 MiB bound: %d piece GETs; want status 1, an error naming the bound and no GET: %s",
			fx.tree.big, origin.PieceGets()-gets, r)
	}
	phCheckPinError(t, r)

	// Pins made and removed with no mount are what a mount finds.
	phMustRun(t, "preheat", "--cache", cache, "--pin", "--disk-cache", "64MiB", origin.URL(), "sizes")
	if n := origin.PieceGets() - gets; n != 0 {
		t.Errorf("preheat --cache --pin of sizes/, preheated before, made %d piece GETs", n)
	}

	origin.Stop()
	m := startMount(t, origin.URL(), cache)
	phCompareHashes(t, m.dir, files)
	if st := phStatusOf(t, filepath.Join(m.dir, "sizes")); st.Mount.Disk.Pins != 1 || st.Dirs[0].PinnedFiles != st.Dirs[0].Files-1 {
		t.Errorf("status of sizes/ after preheat --cache --pin: %d pins, dirs %+v; want 1 pin and every file but the empty one pinned", st.Mount.Disk.Pins, st.Dirs)
	}
	outsider := phOutsider(t, loadManifest(t), pieces)
	expectEIO(t, m.dir, outsider, 0, fileSize(t, outsider))
	for _, args := range [][]string{
		{"preheat", "--cache", cache, origin.URL(), "sizes"},
		{"unpin", "--cache", cache, origin.URL(), "sizes"},
	} {
		r := phRun(t, args...)
		if r.code != 1 || !strings.Contains(r.stderr, cache) || !strings.Contains(r.stderr, "mount") {
			t.Errorf("%s on a cache a mount holds: want status 1 and an error naming the cache and the mount: %s", args[0], r)
		}
	}
	m.Stop(t)
	r = phMustRun(t, "unpin", "--cache", cache, origin.URL(), "sizes")
	if !strings.HasPrefix(r.stdout, "unpinned 1 pins") {
		t.Errorf("unpin --cache: stdout %q, want \"unpinned 1 pins ...\"", r.stdout)
	}
	m = startMount(t, origin.URL(), cache)
	if st := phStatusOf(t, filepath.Join(m.dir, "sizes")); st.Mount.Disk.Pins != 0 || st.Dirs[0].PinnedFiles != 0 {
		t.Errorf("status of sizes/ after unpin --cache: %d pins, dirs %+v; want none pinned", st.Mount.Disk.Pins, st.Dirs)
	}
	m.Stop(t)
}

// cachedPieceFiles lists the complete piece files under cache: named by
// their digest alone, which a piece gets just before its record.
func cachedPieceFiles(t *testing.T, cache string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(cache, "pieces", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var pieces []string
	for _, n := range names {
		if base := filepath.Base(n); len(base) == 64 && !strings.Contains(base, ".") {
			pieces = append(pieces, n)
		}
	}
	return pieces
}
