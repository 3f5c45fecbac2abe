package piece

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// sizedDisk is a disk tier that keeps the Disk contract the way the store
// does: ReadAt treats a piece held at another size as missing, Load returns
// what it holds (the reader checks the size).
type sizedDisk struct {
	mu sync.Mutex // guards m
	m  map[meta.Digest][]byte
}

func (s *sizedDisk) Has(d meta.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[d]
	return ok
}

func (s *sizedDisk) Load(p meta.Piece) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[p.Digest]
	if !ok {
		return nil, os.ErrNotExist
	}
	return b, nil
}

func (s *sizedDisk) Present(p meta.Piece, off, n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[p.Digest]
	return ok && int64(len(b)) == p.Size && off >= 0 && off+n <= p.Size
}

func (s *sizedDisk) ReadAt(p meta.Piece, dst []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[p.Digest]
	if !ok || int64(len(b)) != p.Size {
		return 0, os.ErrNotExist
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(dst, b[off:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

// fixedNet returns whatever bytes it holds for a digest, of any size.
type fixedNet struct{ m map[meta.Digest][]byte }

func (n fixedNet) Piece(ctx context.Context, p meta.Piece) ([]byte, error) {
	b, ok := n.m[p.Digest]
	if !ok {
		return nil, errors.New("origin has no such piece")
	}
	return b, nil
}

// Range returns bytes of the piece if it holds it at the manifest's size:
// fetch verifies blocks, and bytes of another size fail that.
func (n fixedNet) Range(ctx context.Context, p meta.Piece, blockSize, off, size int64) ([]byte, error) {
	b, ok := n.m[p.Digest]
	if !ok || int64(len(b)) != p.Size || off < 0 || off+size > p.Size {
		return nil, errors.New("origin has no such verified range")
	}
	return b[off : off+size], nil
}

// resized returns b cut or grown to size bytes; growth repeats b's pattern,
// so that a wrong size is the only thing wrong.
func resized(b []byte, size int) []byte {
	out := make([]byte, size)
	for i := range out {
		out[i] = b[i%len(b)]
	}
	copy(out, b)
	return out
}

// TestReaderRefusesOtherSizes puts a piece in each tier at a size other
// than the manifest's, as another origin's manifest can leave it in a
// shared cache: no tier's bytes of the wrong size are served, a tier that
// has the right size serves, and with none the read fails.
func TestReaderRefusesOtherSizes(t *testing.T) {
	m, content, pieces := fixture(t, 3*4000+123)
	e := &m.Entries[1]
	p0 := m.Pieces[0]
	good := pieces[p0.Digest]
	for _, size := range []int{1, 7, int(p0.Size) - 1, int(p0.Size) + 1, 8192} {
		wrong := resized(good, size)
		tiers := map[string]struct {
			mem, disk, net []byte
			ok             bool
		}{
			"memory wrong, network right": {mem: wrong, net: good, ok: true},
			"disk wrong, network right":   {disk: wrong, net: good, ok: true},
			"memory and disk wrong":       {mem: wrong, disk: wrong, net: good, ok: true},
			"network wrong":               {net: wrong},
			"every tier wrong":            {mem: wrong, disk: wrong, net: wrong},
			"disk right, memory wrong":    {mem: wrong, disk: good, ok: true},
		}
		for name, tc := range tiers {
			for _, memTier := range []bool{true, false} {
				memPieces := map[meta.Digest][]byte{}
				disk := &sizedDisk{m: map[meta.Digest][]byte{}}
				net := fixedNet{m: map[meta.Digest][]byte{}}
				for d, b := range pieces {
					if d != p0.Digest {
						net.m[d] = b
					}
				}
				put := func(into map[meta.Digest][]byte, b []byte) {
					if b != nil {
						into[p0.Digest] = b
					}
				}
				put(memPieces, tc.mem)
				put(disk.m, tc.disk)
				put(net.m, tc.net)
				o := Options{Disk: disk, Network: net}
				if memTier {
					o.Memory = newMem(memPieces)
				} else if tc.mem != nil {
					continue
				}
				r := New(m, o)
				for _, rd := range [][2]int{{0, 4000}, {3990, 20}, {0, 1}, {100, 50}, {0, len(content)}} {
					off, n := rd[0], rd[1]
					p := make([]byte, n)
					got, err := r.ReadAt(context.Background(), e, p, int64(off))
					switch {
					case err == nil && !bytes.Equal(p[:got], content[off:off+n]):
						t.Fatalf("%s (%d bytes), memory %v: read [%d,+%d) succeeded with other bytes", name, size, memTier, off, n)
					case err == nil && got != n:
						t.Fatalf("%s (%d bytes), memory %v: read [%d,+%d) = %d bytes and no error", name, size, memTier, off, n, got)
					case err == nil && !tc.ok:
						t.Fatalf("%s (%d bytes), memory %v: read [%d,+%d) succeeded from a piece of the wrong size", name, size, memTier, off, n)
					case err != nil && tc.ok:
						t.Fatalf("%s (%d bytes), memory %v: read [%d,+%d) = %v, want the right tier's bytes", name, size, memTier, off, n, err)
					}
				}
				r.Close()
			}
		}
	}
}
