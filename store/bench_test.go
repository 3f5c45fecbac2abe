package store

import (
	"crypto/sha256"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// The benchmarks use only the exported API, so that they run unchanged on
// an older store for a before-and-after comparison.

// benchPiece opens a store holding one piece of size bytes and reads it
// whole once, so that the piece is warm: in the page cache, its file open,
// and whatever the store checks once per process done.
func benchPiece(b *testing.B, size int) (*Store, meta.Piece) {
	b.Helper()
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	data := content(1, size)
	d := meta.Sum(data)
	if err := s.Put(d, data); err != nil {
		b.Fatal(err)
	}
	p := pieceOf(d, size)
	if _, err := s.ReadAt(p, make([]byte, size), 0); err != nil {
		b.Fatal(err)
	}
	return s, p
}

// benchOffsets returns n offsets of reads of length n aligned to n, at
// random in a piece of size bytes.
func benchOffsets(size, n int) []int64 {
	rng := rand.New(rand.NewPCG(1, 2))
	offs := make([]int64, 4096)
	for i := range offs {
		offs[i] = int64(rng.IntN(size/n) * n)
	}
	return offs
}

// BenchmarkReadAt reads 4 KiB (as random reads through the kernel do) and
// 128 KiB (as sequential ones do) at random aligned offsets of a warm
// 16 MiB piece: through the store, and with a plain pread of the same file
// as the baseline.
func BenchmarkReadAt(b *testing.B) {
	const size = 16 << 20
	s, p := benchPiece(b, size)
	for _, n := range []int{4 << 10, 128 << 10} {
		offs := benchOffsets(size, n)
		buf := make([]byte, n)
		b.Run(sizeName(n)+"/store", func(b *testing.B) {
			b.SetBytes(int64(n))
			i := 0
			for b.Loop() {
				if _, err := s.ReadAt(p, buf, offs[i%len(offs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(sizeName(n)+"/pread", func(b *testing.B) {
			f, err := os.Open(filepath.Join(s.Dir(), filepath.FromSlash(meta.PiecePath(p.Digest))))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(n))
			i := 0
			for b.Loop() {
				if _, err := f.ReadAt(buf, offs[i%len(offs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return itoa(n>>20) + "MiB"
	}
	return itoa(n>>10) + "KiB"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// BenchmarkLoad loads a warm 4 MiB piece whole, as the memory tier does.
func BenchmarkLoad(b *testing.B) {
	s, p := benchPiece(b, 4<<20)
	b.SetBytes(p.Size)
	for b.Loop() {
		if _, err := s.Load(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck compares the two checks Load could make of a 4 MiB piece
// in memory: a sha256 of the whole, or a CRC-32C per 64 KiB block.
func BenchmarkCheck(b *testing.B) {
	data := content(1, 4<<20)
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			_ = sha256.Sum256(data)
		}
	})
	b.Run("crc32c-per-block", func(b *testing.B) {
		tab := crc32.MakeTable(crc32.Castagnoli)
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			for off := 0; off < len(data); off += meta.DefaultBlockSize {
				_ = crc32.Checksum(data[off:off+meta.DefaultBlockSize], tab)
			}
		}
	})
}
