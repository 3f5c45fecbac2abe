package meta

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	m := mustValidate(t, sample())
	for i, e := range m.Entries {
		if got, ok := m.Lookup(e.Path); !ok || got != i {
			t.Errorf("Lookup(%q) = %d, %v; want %d", e.Path, got, ok, i)
		}
	}
	for _, p := range []string{"", "nope", "a/nope", "a/f/x", "a/", "/a", "./a", "a//f", "a/./f", "ln/f"} {
		if i, ok := m.Lookup(p); ok {
			t.Errorf("Lookup(%q) = %d; want not found", p, i)
		}
	}
}

func TestChildren(t *testing.T) {
	m := mustValidate(t, sample())
	names := func(dir int) []string {
		var s []string
		for _, c := range m.Children(dir) {
			s = append(s, m.Entries[c].Name())
		}
		return s
	}
	a, _ := m.Lookup("a")
	f, _ := m.Lookup("a/f")
	if got, want := names(0), []string{"a", "ln", "hl", "dev", "blk", "p", "ñandú 🙂"}; !slices.Equal(got, want) {
		t.Errorf("root children %q, want %q (manifest order)", got, want)
	}
	if got, want := names(a), []string{"f", "empty"}; !slices.Equal(got, want) {
		t.Errorf("a's children %q, want %q", got, want)
	}
	if got := m.Children(f); len(got) != 0 {
		t.Errorf("a file has children %v", got)
	}
	for _, tc := range []struct {
		dir  int
		name string
		want int
		ok   bool
	}{
		{a, "f", f, true},
		{a, "g", 0, false},
		{0, "a", a, true},
		{f, "x", 0, false},
		{-1, "a", 0, false},
		{len(m.Entries), "a", 0, false},
	} {
		if got, ok := m.Child(tc.dir, tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("Child(%d, %q) = %d, %v; want %d, %v", tc.dir, tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestTreeOrder lists a directory's names out of order, the way nothing
// obliges a publisher not to, and checks lookups and duplicates still work.
func TestTreeOrder(t *testing.T) {
	m := &Manifest{Format: Format, Version: VersionWholePieces, PieceSize: 4096}
	m.Entries = []Entry{{Path: ".", Kind: KindDir}}
	for _, p := range []string{"z", "b", "b/2", "y", "b/1", "a", "c", "b/0"} {
		m.Entries = append(m.Entries, Entry{Path: p, Kind: KindDir})
	}
	mustValidate(t, m)
	for i, e := range m.Entries {
		if got, ok := m.Lookup(e.Path); !ok || got != i {
			t.Errorf("Lookup(%q) = %d, %v; want %d", e.Path, got, ok, i)
		}
	}
	if got, want := m.Nlink(0), uint32(2+5); got != want {
		t.Errorf("root nlink %d, want %d", got, want)
	}
	for _, dup := range []Entry{{Path: "y", Kind: KindFile}, {Path: "b/1", Kind: KindDir}, {Path: "b/0", Kind: KindFifo}} {
		m.Entries = append(m.Entries, dup)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "duplicate") {
			t.Errorf("a second %q: Validate = %v, want a duplicate path", dup.Path, err)
		}
		m.Entries = m.Entries[:len(m.Entries)-1]
	}
}

// TestAppendSlicesManyExtents checks the binary search Validate prepares
// for files of many extents against the scan used for the others.
func TestAppendSlicesManyExtents(t *testing.T) {
	m := &Manifest{Format: Format, Version: VersionWholePieces, PieceSize: 4096}
	m.Pieces = []Piece{{Digest: Sum([]byte("p")), Size: 4096}}
	f := Entry{Path: "f", Kind: KindFile}
	for k := range 3 * manyExtents {
		n := int64(1 + k%7)
		f.Extents = append(f.Extents, Extent{Piece: 0, Offset: int64(k), Length: n})
		f.Size += n
	}
	m.Entries = []Entry{{Path: ".", Kind: KindDir}, f}
	mustValidate(t, m)
	indexed := &m.Entries[1]
	if _, ok := m.starts[indexed]; !ok {
		t.Fatal("Validate recorded no extent offsets for a file of many extents")
	}
	scanned := *indexed // a copy is not in the table, so it is scanned
	for off := int64(-1); off <= f.Size+1; off++ {
		for _, n := range []int64{1, 5, 13, f.Size} {
			got, want := m.AppendSlices(nil, indexed, off, n), m.AppendSlices(nil, &scanned, off, n)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("AppendSlices(%d, %d) = %v with the table, %v by a scan", off, n, got, want)
			}
			var total int64
			for _, s := range got {
				total += s.Length
			}
			if want := max(0, min(n, f.Size-off)); off >= 0 && total != want {
				t.Fatalf("AppendSlices(%d, %d) covers %d bytes, want %d", off, n, total, want)
			}
		}
	}
}
