package meta

import "testing"

// sample returns a small valid manifest covering every kind.
func sample() *Manifest {
	d1 := Sum([]byte("piece one"))
	d2 := Sum([]byte("second"))
	return &Manifest{
		Format: Format, Version: VersionWholePieces, PieceSize: 4096,
		Pieces: []Piece{{Digest: d1, Size: 9}, {Digest: d2, Size: 6}},
		Entries: []Entry{
			{Path: ".", Kind: KindDir, Mode: 0755},
			{Path: "a", Kind: KindDir, Mode: 01777},
			{Path: "a/f", Kind: KindFile, Mode: 04755, UID: 1, GID: 2, Mtime: 1700000000123456789, Size: 12,
				Extents: []Extent{{Piece: 0, Offset: 3, Length: 6}, {Piece: 1, Offset: 0, Length: 6}},
				Xattrs:  map[string][]byte{"user.k": []byte("v")}},
			{Path: "a/empty", Kind: KindFile, Mode: 0644},
			{Path: "ln", Kind: KindSymlink, Mode: 0777, Target: "a/f"},
			{Path: "hl", Kind: KindHardlink, Target: "a/f"},
			{Path: "dev", Kind: KindChar, Mode: 0600, DevMajor: 1, DevMinor: 3},
			{Path: "blk", Kind: KindBlock, Mode: 0600, DevMajor: 7, DevMinor: 0},
			{Path: "p", Kind: KindFifo, Mode: 0644},
			{Path: "ñandú 🙂", Kind: KindDir, Mode: 0700},
		},
	}
}

func mustValidate(t *testing.T, m *Manifest) *Manifest {
	t.Helper()
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
