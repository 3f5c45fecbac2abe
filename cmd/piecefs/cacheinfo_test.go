package main

import (
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// fakeDisk holds a prefix of each piece, and pins a set of them.
type fakeDisk struct {
	held   map[meta.Digest]int64 // bytes held from the start of the piece
	pinned map[meta.Digest]bool
}

func (d fakeDisk) Cached(p meta.Piece, off, n int64) int64 {
	return max(0, min(off+n, d.held[p.Digest])-off)
}

func (d fakeDisk) Pinned(dg meta.Digest) bool { return d.pinned[dg] }

// infoManifest has a file across three pieces ("big"), whose last piece
// it shares with "small", an empty file, and a file of its own piece.
func infoManifest(t *testing.T) (*meta.Manifest, []meta.Digest) {
	t.Helper()
	const ps = 4096
	var ds []meta.Digest
	var pieces []meta.Piece
	for i, size := range []int64{ps, ps, 500, 100} {
		ds = append(ds, meta.Sum([]byte{byte(i)}))
		pieces = append(pieces, meta.Piece{Digest: ds[i], Size: size})
	}
	m := &meta.Manifest{Format: meta.Format, Version: meta.VersionWholePieces, PieceSize: ps, Pieces: pieces,
		Entries: []meta.Entry{
			{Path: ".", Kind: meta.KindDir, Mode: 0o755},
			{Path: "big", Kind: meta.KindFile, Mode: 0o644, Size: 2*ps + 300,
				Extents: []meta.Extent{{Piece: 0, Length: ps}, {Piece: 1, Length: ps}, {Piece: 2, Length: 300}}},
			{Path: "small", Kind: meta.KindFile, Mode: 0o644, Size: 200,
				Extents: []meta.Extent{{Piece: 2, Offset: 300, Length: 200}}},
			{Path: "empty", Kind: meta.KindFile, Mode: 0o644},
			{Path: "other", Kind: meta.KindFile, Mode: 0o644, Size: 100,
				Extents: []meta.Extent{{Piece: 3, Length: 100}}},
		}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m, ds
}

func infoEntry(t *testing.T, m *meta.Manifest, p string) *meta.Entry {
	t.Helper()
	i, ok := m.Lookup(p)
	if !ok {
		t.Fatalf("no %q", p)
	}
	return &m.Entries[i]
}

func TestEntryInfoCached(t *testing.T) {
	m, d := infoManifest(t)
	tests := []struct {
		name string
		held map[meta.Digest]int64
		want map[string]int64
	}{
		{"nothing", nil, map[string]int64{"big": 0, "small": 0, "empty": 0, "other": 0}},
		{"everything", map[meta.Digest]int64{d[0]: 4096, d[1]: 4096, d[2]: 500, d[3]: 100},
			map[string]int64{"big": 8492, "small": 200, "empty": 0, "other": 100}},
		// The shared piece's first 350 bytes: big's last 300, small's first 50.
		{"part of the shared piece", map[meta.Digest]int64{d[0]: 4096, d[2]: 350},
			map[string]int64{"big": 4396, "small": 50, "empty": 0, "other": 0}},
		{"the middle piece", map[meta.Digest]int64{d[1]: 4096, d[3]: 100},
			map[string]int64{"big": 4096, "small": 0, "empty": 0, "other": 100}},
	}
	for _, tc := range tests {
		info := entryInfo{m: m, disk: fakeDisk{held: tc.held}}
		for p, want := range tc.want {
			if got := info.Cached(infoEntry(t, m, p)); got != want {
				t.Errorf("%s: Cached(%s) = %d, want %d", tc.name, p, got, want)
			}
		}
	}
}

func TestEntryInfoPinned(t *testing.T) {
	m, d := infoManifest(t)
	tests := []struct {
		name   string
		pinned []meta.Digest
		want   map[string]bool
	}{
		{"none", nil, map[string]bool{"big": false, "small": false, "empty": false, "other": false}},
		{"all", d, map[string]bool{"big": true, "small": true, "empty": false, "other": true}},
		{"all but the middle", []meta.Digest{d[0], d[2], d[3]},
			map[string]bool{"big": false, "small": true, "empty": false, "other": true}},
		{"only the shared piece", []meta.Digest{d[2]},
			map[string]bool{"big": false, "small": true, "empty": false, "other": false}},
	}
	for _, tc := range tests {
		pins := map[meta.Digest]bool{}
		for _, dg := range tc.pinned {
			pins[dg] = true
		}
		info := entryInfo{m: m, disk: fakeDisk{pinned: pins}}
		for p, want := range tc.want {
			if got := info.Pinned(infoEntry(t, m, p)); got != want {
				t.Errorf("%s: Pinned(%s) = %v, want %v", tc.name, p, got, want)
			}
		}
	}
}
