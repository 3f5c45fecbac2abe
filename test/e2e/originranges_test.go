package e2e

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// byteRange is [off, off+n) of a piece.
type byteRange struct{ off, n int64 }

// requestRanges returns the byte ranges of a piece of size bytes that a GET
// with the given Range header asks for: the whole piece without one. A
// header that is not a byte-range set the server could serve, or that
// names a range past the piece's end, asks for nothing (Go's file server
// answers 416 then).
func requestRanges(header string, size int64) []byteRange {
	if header == "" {
		return []byteRange{{0, size}}
	}
	set, ok := strings.CutPrefix(header, "bytes=")
	if !ok {
		return nil
	}
	var out []byteRange
	for _, spec := range strings.Split(set, ",") {
		r, ok := parseByteRange(strings.TrimSpace(spec), size)
		if !ok {
			return nil
		}
		out = append(out, r)
	}
	return out
}

// parseByteRange parses one "first-last", "first-" or "-suffix" of a
// Range header for a piece of size bytes, clamped to the piece.
func parseByteRange(spec string, size int64) (byteRange, bool) {
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, false
	}
	if first == "" { // the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 {
			return byteRange{}, false
		}
		n = min(n, size)
		return byteRange{size - n, n}, true
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 || a >= size {
		return byteRange{}, false
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return byteRange{}, false
		}
		b = min(b, size-1)
	}
	return byteRange{a, b - a + 1}, true
}

// overlapBytes returns how many bytes the ranges cover more than once: 0
// if no byte is in two of them.
func overlapBytes(ranges []byteRange) int64 {
	rs := slices.Clone(ranges)
	sort.Slice(rs, func(i, j int) bool { return rs[i].off < rs[j].off })
	var twice, end int64 // end: the end of the bytes covered so far
	for _, r := range rs {
		if r.off < end {
			twice += min(end, r.off+r.n) - r.off
		}
		end = max(end, r.off+r.n)
	}
	return twice
}

// TestRequestRanges checks the parser the counting origin accounts ranged
// GETs with: a parser that saw no range would let "no byte fetched twice"
// pass on any fetcher.
func TestRequestRanges(t *testing.T) {
	const size = 1000
	tests := []struct {
		header string
		want   []byteRange
	}{
		{"", []byteRange{{0, size}}},
		{"bytes=0-99", []byteRange{{0, 100}}},
		{"bytes=100-", []byteRange{{100, 900}}},
		{"bytes=-10", []byteRange{{990, 10}}},
		{"bytes=-2000", []byteRange{{0, size}}},
		{"bytes=900-5000", []byteRange{{900, 100}}},
		{"bytes=0-9, 20-29", []byteRange{{0, 10}, {20, 10}}},
		{"bytes=999-999", []byteRange{{999, 1}}},
		{"bytes=1000-", nil},
		{"bytes=10-5", nil},
		{"bytes=x-5", nil},
		{"items=0-5", nil},
		{"bytes=5", nil},
	}
	for _, tt := range tests {
		if got := requestRanges(tt.header, size); !slices.Equal(got, tt.want) {
			t.Errorf("requestRanges(%q, %d) = %v, want %v", tt.header, size, got, tt.want)
		}
	}
}

// TestOverlapBytes checks the overlap count that "no byte fetched twice"
// rests on.
func TestOverlapBytes(t *testing.T) {
	tests := []struct {
		name   string
		ranges []byteRange
		want   int64
	}{
		{"none", nil, 0},
		{"one", []byteRange{{0, 100}}, 0},
		{"adjacent", []byteRange{{100, 50}, {0, 100}}, 0},
		{"gap", []byteRange{{0, 10}, {20, 10}}, 0},
		{"same twice", []byteRange{{0, 100}, {0, 100}}, 100},
		{"partial overlap", []byteRange{{0, 100}, {90, 20}}, 10},
		{"inside", []byteRange{{0, 100}, {10, 5}}, 5},
		{"inside a later-starting one", []byteRange{{50, 10}, {0, 100}}, 10},
		{"three deep", []byteRange{{0, 10}, {0, 10}, {0, 10}}, 20},
	}
	for _, tt := range tests {
		if got := overlapBytes(tt.ranges); got != tt.want {
			t.Errorf("%s: overlapBytes(%v) = %d, want %d", tt.name, tt.ranges, got, tt.want)
		}
	}
}
