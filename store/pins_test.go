package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// pieceT names the piece of data.
func pieceT(data []byte) meta.Piece { return pieceOf(meta.Sum(data), len(data)) }

func pinT(t *testing.T, s *Store, owner string, ps ...meta.Piece) {
	t.Helper()
	if err := s.Pin(owner, ps); err != nil {
		t.Fatalf("Pin(%q): %v", owner, err)
	}
}

// checkPinned fails the test unless Pinned reports want for each piece.
func checkPinned(t *testing.T, s *Store, want bool, ps ...meta.Piece) {
	t.Helper()
	for _, p := range ps {
		if got := s.Pinned(p.Digest); got != want {
			t.Errorf("Pinned(%s) = %v, want %v", p.Digest, got, want)
		}
	}
}

// checkPinStats fails the test unless Stats reports these pin numbers.
func checkPinStats(t *testing.T, s *Store, owners, pieces int, bytes int64) {
	t.Helper()
	st := s.Stats()
	if st.Pins != owners || st.PinnedPieces != pieces || st.PinnedBytes != bytes {
		t.Errorf("Stats: %d owners, %d pieces, %d bytes pinned; want %d, %d, %d",
			st.Pins, st.PinnedPieces, st.PinnedBytes, owners, pieces, bytes)
	}
}

// pinOwners lists the owners bucket pins records.
func pinOwners(t *testing.T, s *Store) []string {
	t.Helper()
	var owners []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketPins)).ForEach(func(k, _ []byte) error {
			owners = append(owners, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return owners
}

// TestPinSurvivesRestart pins pieces the store does not hold, one of them
// twice: the pins are there after Close and Open, and the shared piece
// counts once.
func TestPinSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	a, b, c := pieceT(content(1, 100)), pieceT(content(2, 200)), pieceT(content(3, 300))
	pinT(t, s, "o\x00x/1", a, b, a)
	pinT(t, s, "o\x00x/2", b)
	pinT(t, s, "o\x00empty") // an empty file: no pieces, still an owner
	must(t, s.Close())
	s = openT(t, dir, Options{})
	checkPinned(t, s, true, a, b)
	checkPinned(t, s, false, c)
	checkPinStats(t, s, 3, 2, 300)
	if got, want := pinOwners(t, s), []string{"o\x00empty", "o\x00x/1", "o\x00x/2"}; !slices.Equal(got, want) {
		t.Errorf("bucket pins holds %q, want %q", got, want)
	}
}

// TestPinnedSurviveEviction fills a bounded store past its bound many
// times over: the pinned pieces, complete and partial, stay while the
// others go, and the evictions are counted. A pinned piece committed
// later stays too, and a lower bound at Open evicts only unpinned pieces.
func TestPinnedSurviveEviction(t *testing.T) {
	const size = 1000
	const limit = 4*bs + 5*size
	dir := t.TempDir()
	s := openT(t, dir, Options{MaxBytes: limit})
	kept := putT(t, s, content(1, size))
	data, part := partData(2, 4)
	commitBlocksT(t, s, part, data, 0, 2) // the partial piece holds 2 blocks
	later := content(3, size)
	pinT(t, s, "dir/kept", pieceOf(kept, size), part)
	pinT(t, s, "dir/later", pieceT(later))
	checkPinStats(t, s, 2, 3, 2*size+part.Size)

	var puts []meta.Digest
	for i := range 20 {
		puts = append(puts, putT(t, s, content(100+i, 2*bs)))
		checkPartialBound(t, s, limit, fmt.Sprintf("put %d", i))
		if i == 5 {
			putT(t, s, later)
		}
	}
	checkComplete(t, s, kept, content(1, size))
	checkComplete(t, s, meta.Sum(later), later)
	checkServed(t, s, part, data, 0, 2)
	for i, d := range puts[:len(puts)-1] {
		if s.Has(d) {
			t.Errorf("unpinned piece %d of 20 kept", i)
		}
	}
	// The bound leaves room for the pinned pieces and one put of 2
	// blocks: every put after the first evicts the one before.
	st := s.Stats()
	if st.Evictions != 19 || st.EvictedBytes != 19*2*bs {
		t.Errorf("Stats: %d evictions of %d bytes, want 19 of %d", st.Evictions, st.EvictedBytes, 19*2*bs)
	}
	if st.Pieces != 3 || st.Partial != 1 || st.Bytes != 2*size+2*bs+2*bs {
		t.Errorf("Stats: %d pieces, %d partial, %d bytes; want 3, 1, %d", st.Pieces, st.Partial, st.Bytes, 2*size+4*bs)
	}
	checkConsistent(t, s)

	// Unpinned, the partial piece is evicted like any other.
	if n, err := s.Unpin("dir/kept"); n != 1 || err != nil {
		t.Fatalf("Unpin = %d, %v; want 1, nil", n, err)
	}
	must(t, s.Close())
	s = openT(t, dir, Options{MaxBytes: size})
	checkComplete(t, s, meta.Sum(later), later)
	checkServed(t, s, part, data)
	for _, d := range []meta.Digest{kept, puts[len(puts)-1]} {
		if s.Has(d) {
			t.Errorf("unpinned piece %s kept under a bound lowered at Open", d)
		}
	}
	if st := s.Stats(); st.Evictions != 3 || st.Bytes != size {
		t.Errorf("Stats after Open: %d evictions, %d bytes; want 3, %d", st.Evictions, st.Bytes, size)
	}
	checkConsistent(t, s)
}

// TestPinnedPiecesFillTheBound pins pieces that take the whole bound:
// the unpinned pieces committed come and go, one at a time, and the
// pinned ones stay. Under a bound lowered at Open below the pinned
// pieces, commits fail as when reads hold every piece.
func TestPinnedPiecesFillTheBound(t *testing.T) {
	const size = 1000
	dir := t.TempDir()
	s := openT(t, dir, Options{MaxBytes: 2 * size})
	a, b := content(1, size), content(2, size)
	pinT(t, s, "x", pieceT(a), pieceT(b))
	putT(t, s, a)
	putT(t, s, b)
	c, d := content(3, size), content(4, size)
	putT(t, s, c) // one piece over the bound, as for pieces being read
	putT(t, s, d)
	if s.Has(meta.Sum(c)) {
		t.Error("the unpinned piece one over the bound was kept")
	}
	for _, data := range [][]byte{a, b, d} {
		checkComplete(t, s, meta.Sum(data), data)
	}
	checkConsistent(t, s)

	must(t, s.Close())
	s = openT(t, dir, Options{MaxBytes: size})
	if err := s.Put(meta.Sum(c), c); !errors.Is(err, ErrFull) {
		t.Fatalf("Put past a bound below the pinned pieces = %v, want an error wrapping ErrFull", err)
	}
	for _, data := range [][]byte{a, b} {
		checkComplete(t, s, meta.Sum(data), data)
	}
	if s.Has(meta.Sum(d)) {
		t.Error("an unpinned piece kept under a bound below the pinned pieces")
	}
	if err := s.Pin("y", []meta.Piece{pieceT(c)}); !errors.Is(err, ErrPinBudget) {
		t.Errorf("Pin over a bound below the pinned pieces = %v, want an error wrapping ErrPinBudget", err)
	}
	checkConsistent(t, s)
}

// TestPinOverBudget pins more than the bound allows: Pin fails with the
// numbers and records nothing, PinCheck says the same, and a change that
// fits is recorded.
func TestPinOverBudget(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{MaxBytes: 1000})
	a, b, c := pieceT(content(1, 400)), pieceT(content(2, 500)), pieceT(content(3, 200))
	pinT(t, s, "first", a, b)
	n, err := s.PinCheck("second", []meta.Piece{b, c})
	if n != 1100 || !errors.Is(err, ErrPinBudget) {
		t.Errorf("PinCheck = %d, %v; want 1100 and an error wrapping ErrPinBudget", n, err)
	}
	err = s.Pin("second", []meta.Piece{b, c})
	if !errors.Is(err, ErrPinBudget) {
		t.Fatalf("Pin over the bound = %v, want an error wrapping ErrPinBudget", err)
	}
	for _, num := range []string{"1100", "900", "1000"} {
		if !bytes.Contains([]byte(err.Error()), []byte(num)) {
			t.Errorf("error %q does not give %s", err, num)
		}
	}
	checkPinned(t, s, false, c)
	checkPinStats(t, s, 1, 2, 900)
	if got := pinOwners(t, s); !slices.Equal(got, []string{"first"}) {
		t.Errorf("bucket pins holds %q after a refused Pin, want only first", got)
	}
	// Re-pinning first without a frees room for c.
	if n, err := s.PinCheck("first", []meta.Piece{b, c}); n != 700 || err != nil {
		t.Errorf("PinCheck = %d, %v; want 700, nil", n, err)
	}
	pinT(t, s, "first", b, c)
	pinT(t, s, "second", b, c)
	checkPinStats(t, s, 2, 2, 700)
}

// TestRepinReplaces pins an owner twice: the second pin replaces the
// first, in memory and on disk, and a piece another owner pins stays
// pinned.
func TestRepinReplaces(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	a, b, c := pieceT(content(1, 10)), pieceT(content(2, 20)), pieceT(content(3, 30))
	pinT(t, s, "file", a, b)
	pinT(t, s, "other", a)
	pinT(t, s, "file", b, c)
	checkPinned(t, s, true, a, b, c)
	checkPinStats(t, s, 2, 3, 60)
	pinT(t, s, "other")
	checkPinned(t, s, false, a)
	checkPinStats(t, s, 2, 2, 50)
	must(t, s.Close())
	s = openT(t, dir, Options{})
	checkPinned(t, s, false, a)
	checkPinned(t, s, true, b, c)
	checkPinStats(t, s, 2, 2, 50)
}

// TestUnpin removes owners by name and by directory.
func TestUnpin(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	ps := map[string]meta.Piece{}
	owners := []string{"a/b", "a/b/c", "a/b/c/d", "a/bc", "a", "x\x00y"}
	for i, o := range owners {
		ps[o] = pieceT(content(i, 10+i))
		pinT(t, s, o, ps[o])
	}
	for _, tc := range []struct {
		names []string
		n     int
		left  []string
	}{
		{[]string{"a/b"}, 3, []string{"a", "a/bc", "x\x00y"}},
		{[]string{"a/b"}, 0, []string{"a", "a/bc", "x\x00y"}},
		{[]string{"nothing", "x"}, 0, []string{"a", "a/bc", "x\x00y"}},
		{[]string{"x\x00y", "a/bc", "a/bc"}, 2, []string{"a"}},
	} {
		n, err := s.Unpin(tc.names...)
		if n != tc.n || err != nil {
			t.Errorf("Unpin(%q) = %d, %v; want %d, nil", tc.names, n, err, tc.n)
		}
		if got := pinOwners(t, s); !slices.Equal(got, tc.left) {
			t.Errorf("after Unpin(%q), bucket pins holds %q, want %q", tc.names, got, tc.left)
		}
	}
	checkPinned(t, s, true, ps["a"])
	checkPinned(t, s, false, ps["a/b"], ps["a/b/c"], ps["a/bc"], ps["x\x00y"])
	must(t, s.Close())
	s = openT(t, dir, Options{})
	checkPinStats(t, s, 1, 1, ps["a"].Size)
	if n, err := s.Unpin("a"); n != 1 || err != nil {
		t.Errorf("Unpin(a) = %d, %v; want 1, nil", n, err)
	}
	checkPinStats(t, s, 0, 0, 0)
}

// TestDamagedPinRecord garbles records of bucket pins: Open drops them,
// keeps the others, and the store works.
func TestDamagedPinRecord(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	a, b := pieceT(content(1, 10)), pieceT(content(2, 20))
	pinT(t, s, "good", a)
	pinT(t, s, "flipped", b)
	err := s.db.Update(func(tx *bolt.Tx) error {
		pins := tx.Bucket([]byte(BucketPins))
		v := bytes.Clone(pins.Get([]byte("flipped")))
		v[5] ^= 1
		if err := pins.Put([]byte("flipped"), v); err != nil {
			return err
		}
		return pins.Put([]byte("short"), []byte{pinsVersion, 1, 2})
	})
	must(t, err)
	must(t, s.Close())
	s = openT(t, dir, Options{})
	checkPinned(t, s, true, a)
	checkPinned(t, s, false, b)
	checkPinStats(t, s, 1, 1, 10)
	if got := pinOwners(t, s); !slices.Equal(got, []string{"good"}) {
		t.Errorf("bucket pins holds %q, want only good", got)
	}
	pinT(t, s, "flipped", b)
	checkPinned(t, s, true, b)
}

func TestDecodePins(t *testing.T) {
	a, b := pieceT(content(1, 10)), pieceT(content(2, 20))
	ps, _ := pinList("o", []meta.Piece{b, a})
	good := encodePins(ps)
	if got, ok := decodePins(good); !ok || !slices.Equal(got, ps) {
		t.Fatalf("decodePins(encodePins(%v)) = %v, %v", ps, got, ok)
	}
	if got, ok := decodePins(encodePins(nil)); !ok || len(got) != 0 {
		t.Errorf("decodePins of no pieces = %v, %v; want none, true", got, ok)
	}
	reversed := encodePins([]meta.Piece{ps[1], ps[0]})
	repeated := encodePins([]meta.Piece{ps[0], ps[0]})
	huge := encodePins([]meta.Piece{{Digest: a.Digest, Size: -1}})
	version := bytes.Clone(good)
	version[0] = 2
	version = append(version[:len(version)-4], encodePins(nil)[1:]...) // any checksum: the version fails first
	for name, v := range map[string][]byte{
		"empty":           nil,
		"truncated":       good[:len(good)-1],
		"extended":        append(bytes.Clone(good), 0),
		"flipped size":    flip(good, 1+32+7),
		"flipped digest":  flip(good, 1),
		"flipped sum":     flip(good, len(good)-1),
		"other version":   version,
		"not ascending":   reversed,
		"repeated digest": repeated,
		"size too large":  huge,
	} {
		if got, ok := decodePins(v); ok {
			t.Errorf("%s: decodePins = %v, true; want malformed", name, got)
		}
	}
}

func flip(v []byte, i int) []byte {
	v = bytes.Clone(v)
	v[i] ^= 0x10
	return v
}

func FuzzDecodePins(f *testing.F) {
	ps, _ := pinList("o", []meta.Piece{pieceT(content(1, 10)), pieceT(content(2, 20))})
	f.Add(encodePins(ps))
	f.Add(encodePins(nil))
	f.Fuzz(func(t *testing.T, v []byte) {
		ps, ok := decodePins(v)
		if ok && !bytes.Equal(encodePins(ps), v) {
			t.Errorf("decodePins(%x) = %v, which encodes to other bytes", v, ps)
		}
	})
}

// TestPinBadArguments refuses owners bbolt cannot key and negative sizes,
// and every pin method after Close.
func TestPinBadArguments(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	a := pieceT(content(1, 10))
	for name, err := range map[string]error{
		"empty owner":   s.Pin("", []meta.Piece{a}),
		"negative size": s.Pin("o", []meta.Piece{{Digest: a.Digest, Size: -1}}),
		"long owner":    s.Pin(string(make([]byte, bolt.MaxKeySize+1)), nil),
	} {
		if err == nil {
			t.Errorf("Pin with %s succeeded", name)
		}
	}
	checkPinStats(t, s, 0, 0, 0)
	pinT(t, s, "o", a)
	must(t, s.Close())
	if err := s.Pin("o", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Pin after Close = %v, want ErrClosed", err)
	}
	if _, err := s.PinCheck("o", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("PinCheck after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Unpin("o"); !errors.Is(err, ErrClosed) {
		t.Errorf("Unpin after Close = %v, want ErrClosed", err)
	}
	checkPinned(t, s, false, a)
}

// TestPinsConcurrent pins, unpins and checks from several goroutines
// while others commit and read under a bound: the race detector watches,
// pinned pieces are never evicted, and the pins end as the last calls
// left them.
func TestPinsConcurrent(t *testing.T) {
	const size, owners = 1000, 4
	s := openT(t, t.TempDir(), Options{MaxBytes: 12 * size})
	kept := make([][]byte, owners)
	for i := range kept {
		kept[i] = content(i, size)
		pinT(t, s, fmt.Sprintf("keep/%d", i), pieceT(kept[i]))
		putT(t, s, kept[i])
	}
	var wg sync.WaitGroup
	for g := range owners {
		wg.Add(2)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("churn/%d", g)
			for i := range 20 {
				p := pieceT(content(1000+g*100+i, size))
				if _, err := s.PinCheck(owner, []meta.Piece{p}); err != nil {
					t.Error(err)
				}
				if err := s.Pin(owner, []meta.Piece{p}); err != nil {
					t.Error(err)
				}
				if i%3 == 0 {
					if _, err := s.Unpin(owner); err != nil {
						t.Error(err)
					}
				}
				_ = s.Stats()
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 10 {
				readThrough(t, s, content(2000+g*100+i, size))
				readThrough(t, s, kept[g])
				s.Cached(pieceT(kept[g]), 0, size)
			}
		}()
	}
	wg.Wait()
	for i, data := range kept {
		checkComplete(t, s, meta.Sum(data), data)
		checkPinned(t, s, true, pieceT(data))
		if i == 0 {
			checkConsistent(t, s)
		}
	}
	// 19 of 20 is not a multiple of 3: every churn owner keeps its last pin.
	checkPinStats(t, s, 2*owners, 2*owners, 2*owners*size)
}

// TestIndexShrinkPassesPins shrinks an index whose oldest pieces are
// pinned by owners: they are kept, moved to the head with their access
// times, and the atimes still written are every piece at the head.
func TestIndexShrinkPassesPins(t *testing.T) {
	x := indexOf([]int64{1, 1, 1, 1, 1})
	x.pins.set("o", []meta.Piece{{Digest: dg(0), Size: 1}, {Digest: dg(1), Size: 1}})
	p, _ := x.get(dg(4))
	x.touch(p, 70)
	if got, want := names(x.shrink(3)), []int{2, 3}; !slices.Equal(got, want) {
		t.Errorf("shrink evicted %v, want %v (0 and 1 pinned)", got, want)
	}
	if got, want := x.digests(), []meta.Digest{dg(1), dg(0), dg(4)}; !slices.Equal(got, want) {
		t.Errorf("order after shrink = %x, want %x", got, want)
	}
	if got := x.takeDirty(); len(got) != 3 || got[2] != (stamp{dg(4), 70}) {
		t.Errorf("takeDirty = %v, want the pinned pieces at atime 0, then piece 4 at 70", got)
	}
	if got := names(x.shrink(0)); !slices.Equal(got, []int{4}) {
		t.Errorf("shrink(0) evicted %v, want [4]", got)
	}
}
