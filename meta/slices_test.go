package meta

import (
	"reflect"
	"testing"
)

func TestAppendSlices(t *testing.T) {
	m := mustValidate(t, sample())
	i, _ := m.Lookup("a/f") // 12 bytes: piece 0 [3,9) then piece 1 [0,6)
	f := &m.Entries[i]
	p0, p1 := m.Pieces[0], m.Pieces[1]
	tests := []struct {
		name   string
		off, n int64
		want   []Slice
	}{
		{"inside the first extent", 1, 2, []Slice{{p0, 0, 4, 2}}},
		{"whole first extent", 0, 6, []Slice{{p0, 0, 3, 6}}},
		{"across two", 4, 4, []Slice{{p0, 0, 7, 2}, {p1, 1, 0, 2}}},
		{"exactly on the boundary", 6, 3, []Slice{{p1, 1, 0, 3}}},
		{"the short tail, clamped", 10, 100, []Slice{{p1, 1, 4, 2}}},
		{"whole file", 0, 12, []Slice{{p0, 0, 3, 6}, {p1, 1, 0, 6}}},
		{"off == size", 12, 1, nil},
		{"off > size", 13, 1, nil},
		{"negative off", -1, 1, nil},
		{"zero length", 3, 0, nil},
	}
	for _, tc := range tests {
		got := m.AppendSlices(nil, f, tc.off, tc.n)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: AppendSlices(%d, %d) = %v, want %v", tc.name, tc.off, tc.n, got, tc.want)
		}
	}
	empty, _ := m.Lookup("a/empty")
	if got := m.AppendSlices(nil, &m.Entries[empty], 0, 10); got != nil {
		t.Errorf("empty file: got %v, want nothing", got)
	}
}
