package piece

import (
	"context"
	"reflect"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

func recorded(t *testing.T, rc *Recorder) []meta.PrefetchRange {
	t.Helper()
	l, _ := rc.List()
	return l.Ranges
}

func TestRecorderOrderDedupCoalesce(t *testing.T) {
	a := &meta.Entry{Path: "a", Kind: meta.KindFile, Size: 1000}
	b := &meta.Entry{Path: "b", Kind: meta.KindFile, Size: 100}
	rc := NewRecorder(nil)
	rc.note(b, 0, 10)   // b first
	rc.note(a, 100, 50) // then a
	rc.note(a, 150, 50) // continues a: extends the last range
	rc.note(a, 120, 20) // inside: nothing
	rc.note(b, 0, 10)   // again: nothing
	rc.note(b, 5, 10)   // overlaps b's first: only [10, 15), a new range since a came between
	rc.note(a, 50, 300) // around a's: [50, 100) and [200, 350)
	rc.note(b, 90, 50)  // clamped at b's end
	rc.note(b, 100, 1)  // at the end: nothing
	rc.note(a, -1, 5)   // nonsense: nothing
	want := []meta.PrefetchRange{
		{Path: "b", Offset: 0, Length: 10},
		{Path: "a", Offset: 100, Length: 100},
		{Path: "b", Offset: 10, Length: 5},
		{Path: "a", Offset: 50, Length: 50},
		{Path: "a", Offset: 200, Length: 150},
		{Path: "b", Offset: 90, Length: 10},
	}
	if got := recorded(t, rc); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded\n%v, want\n%v", got, want)
	}
	if got, want := rc.files[a], []byteSpan{{50, 350}}; !reflect.DeepEqual(got, want) {
		t.Errorf("a's spans %v, want %v", got, want)
	}
	if got, want := rc.files[b], []byteSpan{{0, 15}, {90, 100}}; !reflect.DeepEqual(got, want) {
		t.Errorf("b's spans %v, want %v", got, want)
	}
}

func TestRecorderBound(t *testing.T) {
	e := &meta.Entry{Path: "f", Kind: meta.KindFile, Size: 1 << 20}
	rc := NewRecorder(nil)
	rc.limit = 3
	for off := int64(0); off < 10; off++ {
		rc.note(e, off*100, 10) // never adjacent: a range each
	}
	l, full := rc.List()
	if len(l.Ranges) != 3 || !full {
		t.Errorf("%d ranges, full %v; want 3, true", len(l.Ranges), full)
	}
	rc.note(e, 30, 10) // would extend the last one: stopped all the same
	if got := recorded(t, rc); got[2].Length != 10 {
		t.Errorf("recorded after full: %v", got)
	}
}

func TestRecorderNoAllocationOnceSeen(t *testing.T) {
	e := &meta.Entry{Path: "f", Kind: meta.KindFile, Size: 1 << 30}
	rc := NewRecorder(nil)
	rc.note(e, 0, 4096)
	off := int64(4096)
	allocs := testing.AllocsPerRun(1000, func() {
		rc.note(e, 0, 4096)   // seen
		rc.note(e, off, 4096) // continues the last range
		off += 4096
	})
	if allocs != 0 {
		t.Errorf("%v allocations per read, want 0", allocs)
	}
}

func TestReaderRecords(t *testing.T) {
	m, _, pieces := fixture(t, 20000)
	rc := NewRecorder(nil)
	r := New(m, Options{Disk: &mapDisk{m: pieces}, Network: &mapNet{m: pieces}, Record: rc})
	defer r.Close()
	buf := make([]byte, 4096)
	for _, off := range []int64{8192, 0, 4096, 18000} {
		if _, err := r.ReadAt(context.Background(), &m.Entries[1], buf, off); err != nil && off != 18000 {
			t.Fatal(err)
		}
	}
	want := []meta.PrefetchRange{{Path: "f", Offset: 8192, Length: 4096}, {Path: "f", Offset: 0, Length: 8192}, {Path: "f", Offset: 18000, Length: 2000}}
	if got := recorded(t, rc); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
}
