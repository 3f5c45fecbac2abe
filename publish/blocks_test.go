package publish

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// TestBuildWritesBlockTables publishes files of many sizes as version 2:
// every piece of more than one block has its table in the sink, and the
// table's hashes are the piece's blocks.
func TestBuildWritesBlockTables(t *testing.T) {
	const ps = 256 << 10
	src := t.TempDir()
	for name, n := range map[string]int{
		"tiny": 10, "one-block": meta.DefaultBlockSize, "two-blocks": meta.DefaultBlockSize + 1,
		"big": 3*ps + 12345, "exact": ps,
	} {
		writeFile(t, filepath.Join(src, name), randBytes(n))
	}
	sink := memSink{}
	m, err := Build(context.Background(), src, sink, Options{PieceSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != meta.VersionBlocks || m.BlockSize != meta.DefaultBlockSize {
		t.Fatalf("version %d, block size %d; want %d, %d", m.Version, m.BlockSize, meta.VersionBlocks, meta.DefaultBlockSize)
	}
	tables := 0
	for _, p := range m.Pieces {
		if p.Size <= m.BlockSize {
			if p.Blocks != (meta.Digest{}) {
				t.Errorf("piece %s of one block names a table", p.Digest)
			}
			continue
		}
		bs, err := meta.ParseBlockTable(sink[p.Blocks], p, m.BlockSize)
		if err != nil {
			t.Fatalf("piece %s: %v", p.Digest, err)
		}
		data := sink[p.Digest]
		for k, want := range bs {
			off, n := meta.BlockSpan(p.Size, m.BlockSize, k)
			if meta.Sum(data[off:off+n]) != want {
				t.Fatalf("piece %s: block %d's hash is not in its table", p.Digest, k)
			}
		}
		tables++
	}
	if tables < 4 {
		t.Errorf("%d pieces with block tables, want at least 4", tables)
	}
}

// TestBuildSmallPiecesBlockSize publishes with pieces smaller than the
// default block size: the block size follows the piece size.
func TestBuildSmallPiecesBlockSize(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), randBytes(20000))
	m, err := Build(context.Background(), src, memSink{}, Options{PieceSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if m.BlockSize != 4096 {
		t.Errorf("block size %d with 4 KiB pieces, want 4096", m.BlockSize)
	}
}
