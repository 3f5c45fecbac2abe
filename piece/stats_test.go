package piece

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

func TestTierString(t *testing.T) {
	for tier, want := range map[Tier]string{TierMemory: "memory", TierDisk: "disk", TierNetwork: "network", 7: "Tier(7)"} {
		if got := tier.String(); got != want {
			t.Errorf("Tier(%d).String() = %q, want %q", int(tier), got, want)
		}
	}
}

// readAll reads n bytes of e at off through r and checks them.
func readAll(t *testing.T, r *Reader, e *meta.Entry, content []byte, off, n int) {
	t.Helper()
	b := make([]byte, n)
	if got, err := r.ReadAt(context.Background(), e, b, int64(off)); err != nil || !bytes.Equal(b[:got], content[off:off+n]) {
		t.Fatalf("ReadAt(%d, %d) = %d, %v; or other bytes", off, n, got, err)
	}
}

func checkReaderStats(t *testing.T, r *Reader, want Stats) {
	t.Helper()
	if got := r.Stats(); got != want {
		t.Errorf("Stats() = %+v\n                want %+v", got, want)
	}
}

// TestStatsTiers: a read across two pieces is two slices, counted by the
// tier that served each, network first, then memory; without a memory
// tier, disk.
func TestStatsTiers(t *testing.T) {
	m, content, pieces := fixture(t, 10000)
	e := &m.Entries[1]
	r := New(m, Options{Memory: newMem(nil), Disk: &mapDisk{}, Network: &mapNet{m: pieces}})
	readAll(t, r, e, content, 3990, 100)
	checkReaderStats(t, r, Stats{Reads: [3]int64{0, 0, 2}, Bytes: [3]int64{0, 0, 100}})
	readAll(t, r, e, content, 3990, 100)
	checkReaderStats(t, r, Stats{Reads: [3]int64{2, 0, 2}, Bytes: [3]int64{100, 0, 100}})

	r = New(m, Options{Disk: &mapDisk{m: pieces}, Network: &mapNet{}})
	readAll(t, r, e, content, 0, 4500)
	checkReaderStats(t, r, Stats{Reads: [3]int64{0, 2, 0}, Bytes: [3]int64{0, 4500, 0}})
}

// TestStatsUnits: a slice of units taken from memory, disk and network
// counts each unit's bytes by its tier, and one read of the slowest.
func TestStatsUnits(t *testing.T) {
	m, content, pieces := fixtureV2(t, 200000)
	p := m.Pieces[0]
	const u = 64 << 10
	mem := newMem(nil)
	mem.Add(Key{p.Digest, 0}, pieces[p.Digest][:u])
	disk := &unitDisk{units: map[Key][]byte{{p.Digest, 1}: pieces[p.Digest][u : 2*u]}}
	r := New(m, Options{Memory: mem, Disk: disk, Network: &mapNet{m: pieces}})
	// File offset 0 is byte 7 of the piece: unit 0 gives u-7 bytes.
	readAll(t, r, &m.Entries[1], content, 0, 3*u)
	checkReaderStats(t, r, Stats{Reads: [3]int64{0, 0, 1}, Bytes: [3]int64{u - 7, u, u + 7}})
}

// fixtures make a file of a version 1 manifest (whole pieces) and of a
// version 2 one (units).
var fixtures = map[string]func(testing.TB, int) (*meta.Manifest, []byte, map[meta.Digest][]byte){
	"whole pieces": fixture, "units": fixtureV2,
}

// coldReader returns a file of size bytes made by fix and a Reader of it
// with an empty memory tier, nothing on disk, and readahead.
func coldReader(t *testing.T, fix func(testing.TB, int) (*meta.Manifest, []byte, map[meta.Digest][]byte), size int, readahead int64) (*meta.Manifest, []byte, *Reader) {
	m, content, pieces := fix(t, size)
	r := New(m, Options{Memory: newMem(nil), Disk: &mapDisk{}, Network: &mapNet{m: pieces}, Readahead: readahead})
	t.Cleanup(r.Close)
	return m, content, r
}

// waitPrefetches waits until r's readahead has no prefetch in flight.
func waitPrefetches(t *testing.T, r *Reader) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.ra.mu.Lock()
		n := len(r.ra.inflight)
		r.ra.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("prefetches still in flight after 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStatsReadahead: a file read front to back, waiting for the
// prefetches after each read, is served mostly by readahead; each entry it
// prefetched counts one hit at most, and a second pass, from memory, none.
func TestStatsReadahead(t *testing.T) {
	for name, fix := range fixtures {
		t.Run(name, func(t *testing.T) {
			m, content, r := coldReader(t, fix, 600000, 256<<10)
			readSequentially(t, r, &m.Entries[1], content)
			s := r.Stats()
			t.Logf("%+v", s)
			entries := int64(len(m.Pieces))
			if m.HasBlocks() {
				entries = int64(len(m.Pieces) * r.perPiece)
			}
			if s.ReadaheadFetches == 0 || s.ReadaheadHits < s.Reads[TierNetwork] || s.ReadaheadHits > entries {
				t.Errorf("%d readahead fetches, %d hits, %d reads from the network; want readahead to serve most, with at most one hit for each of the %d entries",
					s.ReadaheadFetches, s.ReadaheadHits, s.Reads[TierNetwork], entries)
			}
			if total := s.Bytes[TierMemory] + s.Bytes[TierDisk] + s.Bytes[TierNetwork]; total != int64(len(content)) {
				t.Errorf("%d bytes counted, want %d", total, len(content))
			}
			readSequentially(t, r, &m.Entries[1], content)
			if again := r.Stats(); again.ReadaheadHits != s.ReadaheadHits || again.Reads[TierNetwork] != s.Reads[TierNetwork] {
				t.Errorf("second pass: hits %d -> %d, network reads %d -> %d; want neither to grow", s.ReadaheadHits, again.ReadaheadHits, s.Reads[TierNetwork], again.Reads[TierNetwork])
			}
		})
	}
}

// readSequentially reads all of e in reads of 4,000 bytes, waiting for the
// prefetches after each.
func readSequentially(t *testing.T, r *Reader, e *meta.Entry, content []byte) {
	t.Helper()
	const chunk = 4000
	for off := 0; off < len(content); off += chunk {
		readAll(t, r, e, content, off, min(chunk, len(content)-off))
		waitPrefetches(t, r)
	}
}

func TestMarks(t *testing.T) {
	m := newMarks(16)
	d := meta.Sum([]byte("piece"))
	if m.take(Key{d, 0}) {
		t.Fatal("take of an unmarked key reported a mark")
	}
	// The units of one piece never share a slot.
	for k := range len(m.slots) {
		m.mark(Key{d, k})
	}
	for k := range len(m.slots) {
		if !m.take(Key{d, k}) {
			t.Fatalf("unit %d: mark lost", k)
		}
		if m.take(Key{d, k}) {
			t.Fatalf("unit %d: taken twice", k)
		}
	}
	var none *marks
	none.mark(Key{d, Whole})
	if none.take(Key{d, Whole}) {
		t.Error("a nil table reported a mark")
	}
}

// TestStatsMemoryHitAllocates nothing: counting keeps the hot path free of
// allocations, readahead's marks included.
func TestStatsMemoryHitAllocates(t *testing.T) {
	for name, fix := range fixtures {
		t.Run(name, func(t *testing.T) {
			m, content, r := coldReader(t, fix, 300000, 1<<20)
			e := &m.Entries[1]
			readAll(t, r, e, content, 100, 1000)
			b := make([]byte, 1000)
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := r.ReadAt(context.Background(), e, b, 100); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("a memory hit allocates %v times, want 0", allocs)
			}
		})
	}
}
