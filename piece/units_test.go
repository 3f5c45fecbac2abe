package piece

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/piecefs/piecefs/meta"
)

// fixtureV2 is fixture for a version 2 manifest: pieces of 200,007 bytes (7
// of padding, then the file's bytes) in blocks of 16 KiB, so that a piece
// has 4 units of 64 KiB, the last one short.
func fixtureV2(t testing.TB, size int) (*meta.Manifest, []byte, map[meta.Digest][]byte) {
	t.Helper()
	const chunkSize, blockSize = 200000, 16 << 10
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i*31 + i/4096)
	}
	m := &meta.Manifest{Format: meta.Format, Version: meta.VersionBlocks, PieceSize: 256 << 10, BlockSize: blockSize}
	m.Entries = []meta.Entry{{Path: ".", Kind: meta.KindDir}, {Path: "f", Kind: meta.KindFile, Size: int64(size)}}
	pieces := map[meta.Digest][]byte{}
	for off := 0; off < size; off += chunkSize {
		chunk := content[off:min(off+chunkSize, size)]
		b := append(make([]byte, 7), chunk...)
		p := meta.Piece{Digest: meta.Sum(b), Size: int64(len(b))}
		if p.Size > blockSize {
			p.Blocks = meta.Sum(meta.BlockTable(b, blockSize))
		}
		pieces[p.Digest] = b
		m.Pieces = append(m.Pieces, p)
		m.Entries[1].Extents = append(m.Entries[1].Extents, meta.Extent{Piece: len(m.Pieces) - 1, Offset: 7, Length: int64(len(chunk))})
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m, content, pieces
}

// unitDisk holds some units of pieces (whole units, by piece index and
// unit), as a store holds a partial piece's blocks.
type unitDisk struct {
	mapDisk
	units map[Key][]byte
}

func (s *unitDisk) Present(p meta.Piece, off, n int64) bool {
	for k := off / (64 << 10); k <= (off+n-1)/(64<<10); k++ {
		if _, ok := s.units[Key{p.Digest, int(k)}]; !ok {
			return false
		}
	}
	return true
}

func (s *unitDisk) ReadAt(p meta.Piece, b []byte, off int64) (int, error) {
	if !s.Present(p, off, int64(len(b))) {
		return 0, errors.New("not present")
	}
	n := 0
	for n < len(b) {
		k := (off + int64(n)) / (64 << 10)
		n += copy(b[n:], s.units[Key{p.Digest, int(k)}][(off+int64(n))%(64<<10):])
	}
	return n, nil
}

// everyOtherUnit returns the units of pieces with an even index.
func everyOtherUnit(pieces map[meta.Digest][]byte) map[Key][]byte {
	units := map[Key][]byte{}
	for d, b := range pieces {
		for k := 0; k*(64<<10) < len(b); k += 2 {
			units[Key{d, k}] = b[k*(64<<10) : min((k+1)*(64<<10), len(b))]
		}
	}
	return units
}

func TestReaderUnitsConformance(t *testing.T) {
	m, content, pieces := fixtureV2(t, 200000+70000)
	offline := &mapNet{err: errors.New("offline")}
	partial := &unitDisk{units: everyOtherUnit(pieces)}
	for name, o := range map[string]Options{
		"network":                   {Memory: newMem(nil), Disk: &mapDisk{}, Network: &mapNet{m: pieces}},
		"network, readahead":        {Memory: newMem(nil), Disk: &mapDisk{}, Network: &mapNet{m: pieces}, Readahead: 1 << 20},
		"network, no memory tier":   {Disk: &mapDisk{}, Network: &mapNet{m: pieces}},
		"complete on disk":          {Memory: newMem(nil), Disk: &mapDisk{m: pieces}, Network: offline},
		"memory":                    {Memory: newMem(pieces), Disk: &mapDisk{}, Network: offline},
		"disk bad":                  {Memory: newMem(nil), Disk: &mapDisk{m: pieces, fail: true}, Network: &mapNet{m: pieces}},
		"half on disk, half remote": {Memory: newMem(nil), Disk: partial, Network: &mapNet{m: pieces}},
	} {
		t.Run(name, func(t *testing.T) {
			r := New(m, o)
			defer r.Close()
			sr := io.NewSectionReader(entryReaderAt{r, &m.Entries[1]}, 0, int64(len(content)))
			if err := iotest.TestReader(sr, content); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReaderFetchesUnits: a cold read fetches the units it touches and no
// more, one request per run of missing units, and serves the next read of
// them from memory.
func TestReaderFetchesUnits(t *testing.T) {
	m, content, pieces := fixtureV2(t, 3*200000+12345)
	index := map[meta.Digest]int{}
	for i, p := range m.Pieces {
		index[p.Digest] = i
	}
	e := &m.Entries[1]
	const u = 64 << 10
	for _, tt := range []struct {
		name     string
		off, n   int64
		memUnits []int // units of piece 0 already in memory
		want     []string
	}{
		{name: "one byte", off: 100000, n: 1, want: []string{fmt.Sprintf("0 %d+%d", u, u)}},
		{name: "two units", off: u - 100, n: 200, want: []string{fmt.Sprintf("0 0+%d", 2*u)}},
		{name: "across pieces", off: 200000 - 10, n: 20, want: []string{fmt.Sprintf("0 %d+%d", 3*u, 200007-3*u), "1 0+65536"}},
		{name: "a hole in memory", off: 0, n: 3 * u, memUnits: []int{1}, want: []string{"0 0+65536", fmt.Sprintf("0 %d+%d", 2*u, 200007-2*u)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem := newMem(nil)
			p0 := m.Pieces[0]
			for _, k := range tt.memUnits {
				mem.Add(Key{p0.Digest, k}, pieces[p0.Digest][k*u:(k+1)*u])
			}
			net := &mapNet{m: pieces, index: index}
			r := New(m, Options{Memory: mem, Disk: &mapDisk{}, Network: net})
			defer r.Close()
			for range 2 {
				b := make([]byte, tt.n)
				if n, err := r.ReadAt(context.Background(), e, b, tt.off); err != nil || !bytes.Equal(b[:n], content[tt.off:tt.off+tt.n]) {
					t.Fatalf("ReadAt = %d, %v; or other bytes", n, err)
				}
			}
			if fmt.Sprint(net.ranges) != fmt.Sprint(tt.want) {
				t.Errorf("ranges fetched %q, want %q (and none for the second read)", net.ranges, tt.want)
			}
		})
	}
}
