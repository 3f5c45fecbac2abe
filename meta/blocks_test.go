package meta

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

// sampleV2 is sample as a version 2 manifest: block size 4096 and a
// 9000-byte piece of three blocks beside the two small ones.
func sampleV2(t *testing.T) (*Manifest, []byte) {
	m := sample()
	m.Version, m.BlockSize, m.PieceSize = VersionBlocks, 4096, 16384
	big := bytes.Repeat([]byte("0123456789abcdef"), 9000/16+1)[:9000]
	table := BlockTable(big, m.BlockSize)
	m.Pieces = append(m.Pieces, Piece{Digest: Sum(big), Size: 9000, Blocks: Sum(table)})
	m.Entries = append(m.Entries, Entry{Path: "big", Kind: KindFile, Mode: 0644, Size: 9000,
		Extents: []Extent{{Piece: 2, Offset: 0, Length: 9000}}})
	return mustValidate(t, m), table
}

func TestVersion2RoundTrip(t *testing.T) {
	m, _ := sampleV2(t)
	enc, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"version":2`, `"blockSize":4096`, `"blocks":"sha256:`} {
		if !strings.Contains(string(enc), want) {
			t.Errorf("encoding lacks %s:\n%s", want, enc)
		}
	}
	if n := strings.Count(string(enc), `"blocks"`); n != 1 {
		t.Errorf("%d block tables encoded, want 1 (small pieces have none)", n)
	}
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.BlockSize != 4096 || got.Pieces[2].Blocks != m.Pieces[2].Blocks || !got.HasBlocks() {
		t.Errorf("decoded block size %d, blocks %s, HasBlocks %v", got.BlockSize, got.Pieces[2].Blocks, got.HasBlocks())
	}
	v1 := sample()
	enc1, err := mustValidate(t, v1).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(enc1), `"blockSize"`) || strings.Contains(string(enc1), `"blocks"`) {
		t.Errorf("a version 1 encoding mentions blocks:\n%s", enc1)
	}
}

func TestVersion2Rejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Manifest)
		want string
	}{
		{"no block size", func(m *Manifest) { m.BlockSize = 0 }, "blockSize"},
		{"block size not a power of two", func(m *Manifest) { m.BlockSize = 5000 }, "blockSize"},
		{"block size too small", func(m *Manifest) { m.BlockSize = 2048 }, "blockSize"},
		{"block size above the piece size", func(m *Manifest) { m.BlockSize = 32768 }, "blockSize"},
		{"block size huge", func(m *Manifest) { m.BlockSize = 1 << 40; m.PieceSize = MaxPieceSize }, "blockSize"},
		{"many blocks, no table", func(m *Manifest) { m.Pieces[2].Blocks = Digest{} }, "no block table"},
		{"one block with a table", func(m *Manifest) { m.Pieces[0].Blocks = Sum([]byte("t")) }, "one block"},
		{"one digest, two tables", func(m *Manifest) {
			p := m.Pieces[2]
			p.Blocks = Sum([]byte("other"))
			m.Pieces = append(m.Pieces, p)
		}, "one block table"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := sampleV2(t)
			tc.edit(m)
			err := m.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestBlockArithmetic(t *testing.T) {
	const bs = 4096
	for _, tc := range []struct {
		size   int64
		blocks int
	}{{1, 1}, {4095, 1}, {4096, 1}, {4097, 2}, {8192, 2}, {9000, 3}, {4 << 20, 1024}} {
		if got := NumBlocks(tc.size, bs); got != tc.blocks {
			t.Errorf("NumBlocks(%d) = %d, want %d", tc.size, got, tc.blocks)
		}
		var total int64
		for k := range tc.blocks {
			off, n := BlockSpan(tc.size, bs, k)
			if off != total || n <= 0 || n > bs {
				t.Fatalf("size %d: BlockSpan(%d) = %d, %d", tc.size, k, off, n)
			}
			total += n
		}
		if total != tc.size {
			t.Errorf("size %d: blocks cover %d bytes", tc.size, total)
		}
	}
	for _, tc := range []struct {
		off, n      int64
		first, last int
	}{
		{0, 1, 0, 0}, {0, 4096, 0, 0}, {4095, 1, 0, 0}, {4095, 2, 0, 1}, {4096, 1, 1, 1},
		{100, 8192, 0, 2}, {8191, 1, 1, 1}, {8192, 4096, 2, 2},
	} {
		first, last := BlocksOf(tc.off, tc.n, bs)
		if first != tc.first || last != tc.last {
			t.Errorf("BlocksOf(%d, %d) = %d, %d; want %d, %d", tc.off, tc.n, first, last, tc.first, tc.last)
		}
	}
}

func TestParseBlockTable(t *testing.T) {
	m, table := sampleV2(t)
	p := m.Pieces[2]
	bs, err := ParseBlockTable(table, p, m.BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 9000/16+1)[:9000]
	for k, want := range bs {
		off, n := BlockSpan(p.Size, m.BlockSize, k)
		if Digest(sha256.Sum256(big[off:off+n])) != want {
			t.Errorf("block %d: the table's hash is not the block's", k)
		}
	}
	bad := append([]byte(nil), table...)
	bad[5] ^= 1
	for name, tb := range map[string][]byte{
		"flipped":   bad,
		"short":     table[:len(table)-32],
		"long":      append(append([]byte(nil), table...), make([]byte, 32)...),
		"truncated": table[:len(table)-1],
		"empty":     nil,
	} {
		if _, err := ParseBlockTable(tb, p, m.BlockSize); err == nil {
			t.Errorf("%s table accepted", name)
		}
	}
}
