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

// TestRecorderRunInOffsetOrder: reads of one file that arrive out of
// order, with no other file read between them, are kept in offset order and
// merged; a file read again after another starts a run of its own.
func TestRecorderRunInOffsetOrder(t *testing.T) {
	a := &meta.Entry{Path: "a", Kind: meta.KindFile, Size: 1000}
	b := &meta.Entry{Path: "b", Kind: meta.KindFile, Size: 1000}
	rc := NewRecorder(nil)
	for _, r := range []struct {
		e      *meta.Entry
		off, n int64
	}{
		{a, 0, 10}, {a, 20, 10}, {a, 10, 10}, // joins both: a[0, 30)
		{a, 60, 10}, {a, 40, 10}, // two ranges, in offset order
		{a, 50, 5},               // joins a[40, 50)
		{b, 0, 10},               // another file: a new run
		{a, 30, 10},              // a again: its own run, after b's
		{b, 20, 10}, {b, 10, 10}, // a new run of b: b[10, 30)
	} {
		rc.note(r.e, r.off, r.n)
	}
	want := []meta.PrefetchRange{
		{Path: "a", Offset: 0, Length: 30}, {Path: "a", Offset: 40, Length: 15}, {Path: "a", Offset: 60, Length: 10},
		{Path: "b", Offset: 0, Length: 10}, {Path: "a", Offset: 30, Length: 10}, {Path: "b", Offset: 10, Length: 20},
	}
	if got := recorded(t, rc); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded\n%v, want\n%v", got, want)
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
	// One file: one run, in offset order, clamped at the end.
	want := []meta.PrefetchRange{{Path: "f", Offset: 0, Length: 12288}, {Path: "f", Offset: 18000, Length: 2000}}
	if got := recorded(t, rc); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
}
