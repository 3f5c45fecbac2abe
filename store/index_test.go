package store

import (
	"slices"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

func dg(i int) meta.Digest { return meta.Sum([]byte{byte(i)}) }

// indexOf returns an index of pieces 0..len(sizes)-1 used in that order, so
// that piece 0 is the least recently used; the pieces in pinned are pinned.
func indexOf(sizes []int64, pinned ...int) *index {
	x := newIndex()
	for i, size := range sizes {
		x.add(&piece{d: dg(i), size: size, pins: count(pinned, i)})
	}
	return x
}

func count(xs []int, x int) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// names returns the indexes i of the pieces dg(i) among ps, for messages.
func names(ps []*piece) []int {
	var is []int
	for _, p := range ps {
		for i := range 256 {
			if p.d == dg(i) {
				is = append(is, i)
			}
		}
	}
	return is
}

func TestIndexReserve(t *testing.T) {
	tests := []struct {
		name        string
		sizes       []int64
		pinned      []int
		limit, size int64
		victims     []int
		ok          bool
		used        int64
	}{
		{"unbounded", []int64{10, 10}, nil, 0, 10, nil, true, 20},
		{"fits", []int64{10, 10}, nil, 30, 10, nil, true, 20},
		{"evicts the least recently used", []int64{10, 10, 10}, nil, 30, 10, []int{0}, true, 20},
		{"evicts until it fits", []int64{10, 10, 10}, nil, 30, 25, []int{0, 1, 2}, true, 0},
		{"skips pinned", []int64{10, 10, 10}, []int{0}, 30, 10, []int{1}, true, 20},
		{"larger than the bound: alone", []int64{10, 10}, nil, 15, 40, []int{0, 1}, true, 0},
		{"pinned at the bound: one piece over", []int64{10, 10}, []int{0, 1}, 20, 10, nil, true, 20},
		{"pinned over the bound: refused", []int64{10, 10, 10}, []int{0, 1, 2}, 20, 10, nil, false, 30},
		{"refused after evicting what it could", []int64{10, 10, 10, 10}, []int{0, 1, 2}, 20, 10, []int{3}, false, 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := indexOf(tc.sizes, tc.pinned...)
			victims, ok := x.reserve(tc.size, tc.limit)
			if got := names(victims); !slices.Equal(got, tc.victims) || ok != tc.ok {
				t.Errorf("reserve = %v, %v; want %v, %v", got, ok, tc.victims, tc.ok)
			}
			if x.used != tc.used {
				t.Errorf("used = %d, want %d", x.used, tc.used)
			}
			wantReserved := int64(0)
			if tc.ok {
				wantReserved = tc.size
			}
			if x.reserved != wantReserved {
				t.Errorf("reserved = %d, want %d", x.reserved, wantReserved)
			}
			for _, p := range victims {
				if _, ok := x.get(p.d); ok {
					t.Errorf("victim %v still in the index", names([]*piece{p}))
				}
			}
		})
	}
}

func TestIndexCommitAfterReserve(t *testing.T) {
	x := indexOf([]int64{10})
	if _, ok := x.reserve(5, 100); !ok {
		t.Fatal("reserve refused")
	}
	x.commit(&piece{d: dg(1), size: 5}, 5)
	if x.used != 15 || x.reserved != 0 {
		t.Errorf("used, reserved = %d, %d; want 15, 0", x.used, x.reserved)
	}
	if _, ok := x.reserve(7, 100); !ok {
		t.Fatal("reserve refused")
	}
	x.unreserve(7)
	if x.used != 15 || x.reserved != 0 {
		t.Errorf("after unreserve: used, reserved = %d, %d; want 15, 0", x.used, x.reserved)
	}
}

func TestIndexTouchOrdersEviction(t *testing.T) {
	x := indexOf([]int64{1, 1, 1, 1})
	p, _ := x.get(dg(0))
	x.touch(p, 100)
	if got, want := names(x.shrink(2)), []int{1, 2}; !slices.Equal(got, want) {
		t.Errorf("shrink evicted %v, want %v (piece 0 was just read)", got, want)
	}
}

func TestIndexTakeDirty(t *testing.T) {
	x := indexOf([]int64{1, 1, 1, 1}) // loaded: nothing dirty
	if got := x.takeDirty(); len(got) != 0 {
		t.Fatalf("takeDirty of a loaded index = %v, want none", got)
	}
	for i, now := range map[int]int64{1: 50, 3: 60} {
		p, _ := x.get(dg(i))
		x.touch(p, now)
	}
	got := x.takeDirty()
	slices.SortFunc(got, func(a, b stamp) int { return int(a.atime - b.atime) })
	if want := []stamp{{dg(1), 50}, {dg(3), 60}}; !slices.Equal(got, want) {
		t.Errorf("takeDirty = %v, want %v", got, want)
	}
	if got := x.takeDirty(); len(got) != 0 {
		t.Errorf("second takeDirty = %v, want none", got)
	}
}

func TestLoadIndexOrdersByAtime(t *testing.T) {
	sizes := map[meta.Digest]int64{dg(0): 1, dg(1): 1, dg(2): 1, dg(3): 1}
	atimes := map[meta.Digest]int64{dg(0): 30, dg(1): 10, dg(3): 20} // dg(2): none, oldest
	x := loadIndex(sizes, nil, atimes)
	want := []meta.Digest{dg(0), dg(3), dg(1), dg(2)}
	if got := x.digests(); !slices.Equal(got, want) {
		t.Errorf("order = %x, want %x", got, want)
	}
	if x.used != 4 {
		t.Errorf("used = %d, want 4", x.used)
	}
}
