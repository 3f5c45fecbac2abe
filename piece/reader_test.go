package piece

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/piecefs/piecefs/meta"
)

type mapMem struct {
	mu sync.Mutex // guards m
	m  map[Key][]byte
}

// newMem returns a memory tier holding the whole pieces given.
func newMem(pieces map[meta.Digest][]byte) *mapMem {
	c := &mapMem{m: map[Key][]byte{}}
	for d, b := range pieces {
		c.m[Key{d, Whole}] = b
	}
	return c
}

func (c *mapMem) Get(k Key) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[k]
	return b, ok
}

func (c *mapMem) Add(k Key, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = b
}

type mapDisk struct {
	m     map[meta.Digest][]byte
	fail  bool // ReadAt fails as a deleted piece file would
	reads int
}

func (s *mapDisk) Has(d meta.Digest) bool { _, ok := s.m[d]; return ok }

func (s *mapDisk) Load(p meta.Piece) ([]byte, error) {
	s.reads++
	if s.fail {
		return nil, os.ErrNotExist
	}
	return s.m[p.Digest], nil
}

func (s *mapDisk) Present(p meta.Piece, off, n int64) bool {
	b, ok := s.m[p.Digest]
	return ok && !s.fail && off+n <= int64(len(b))
}

func (s *mapDisk) ReadAt(p meta.Piece, b []byte, off int64) (int, error) {
	s.reads++
	if s.fail {
		return 0, os.ErrNotExist
	}
	return copy(b, s.m[p.Digest][off:]), nil
}

type mapNet struct {
	mu      sync.Mutex // guards fetches, ranges
	m       map[meta.Digest][]byte
	fetches int
	ranges  []string // "piece index off+n" of each Range, when index is set
	index   map[meta.Digest]int
	err     error
}

// Range returns bytes [off, off+n) of a piece it holds, as fetch does after
// verifying them.
func (n *mapNet) Range(ctx context.Context, p meta.Piece, blockSize, off, size int64) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fetches++
	if n.index != nil {
		n.ranges = append(n.ranges, fmt.Sprintf("%d %d+%d", n.index[p.Digest], off, size))
	}
	if n.err != nil {
		return nil, n.err
	}
	b, ok := n.m[p.Digest]
	if !ok || int64(len(b)) != p.Size || off%blockSize != 0 || off+size > p.Size {
		return nil, fmt.Errorf("no verified bytes [%d, +%d) of piece %s", off, size, p.Digest)
	}
	return b[off : off+size], nil
}

func (n *mapNet) Piece(ctx context.Context, p meta.Piece) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fetches++
	if n.err != nil {
		return nil, n.err
	}
	return n.m[p.Digest], nil
}

// fixture is a file of size bytes cut into pieces of 4096, each piece
// holding the file's bytes at an offset of 7 (as packed files are).
func fixture(t testing.TB, size int) (*meta.Manifest, []byte, map[meta.Digest][]byte) {
	t.Helper()
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i*31 + i/4096)
	}
	m := &meta.Manifest{Format: meta.Format, Version: meta.VersionWholePieces, PieceSize: 4096}
	m.Entries = []meta.Entry{{Path: ".", Kind: meta.KindDir}, {Path: "f", Kind: meta.KindFile, Size: int64(size)}}
	pieces := map[meta.Digest][]byte{}
	for off := 0; off < size; off += 4000 {
		chunk := content[off:min(off+4000, size)]
		b := append(make([]byte, 7), chunk...)
		d := meta.Sum(b)
		pieces[d] = b
		m.Pieces = append(m.Pieces, meta.Piece{Digest: d, Size: int64(len(b))})
		m.Entries[1].Extents = append(m.Entries[1].Extents, meta.Extent{Piece: len(m.Pieces) - 1, Offset: 7, Length: int64(len(chunk))})
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m, content, pieces
}

type entryReaderAt struct {
	r *Reader
	e *meta.Entry
}

func (a entryReaderAt) ReadAt(p []byte, off int64) (int, error) {
	return a.r.ReadAt(context.Background(), a.e, p, off)
}

func TestReaderConformance(t *testing.T) {
	m, content, pieces := fixture(t, 3*4000+123)
	for name, r := range map[string]*Reader{
		"network":                  New(m, Options{Memory: newMem(nil), Disk: &mapDisk{}, Network: &mapNet{m: pieces}}),
		"disk":                     New(m, Options{Memory: newMem(nil), Disk: &mapDisk{m: pieces}, Network: &mapNet{err: errors.New("offline")}}),
		"memory":                   New(m, Options{Memory: newMem(pieces), Disk: &mapDisk{}, Network: &mapNet{err: errors.New("offline")}}),
		"disk bad":                 New(m, Options{Memory: newMem(nil), Disk: &mapDisk{m: pieces, fail: true}, Network: &mapNet{m: pieces}}),
		"disk, no memory tier":     New(m, Options{Memory: nil, Disk: &mapDisk{m: pieces}, Network: &mapNet{err: errors.New("offline")}}),
		"network, no memory tier":  New(m, Options{Memory: nil, Disk: &mapDisk{}, Network: &mapNet{m: pieces}}),
		"disk bad, no memory tier": New(m, Options{Memory: nil, Disk: &mapDisk{m: pieces, fail: true}, Network: &mapNet{m: pieces}}),
	} {
		t.Run(name, func(t *testing.T) {
			sr := io.NewSectionReader(entryReaderAt{r, &m.Entries[1]}, 0, int64(len(content)))
			if err := iotest.TestReader(sr, content); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReaderTiers(t *testing.T) {
	m, content, pieces := fixture(t, 10000)
	mem := newMem(nil)
	net := &mapNet{m: pieces}
	r := New(m, Options{Memory: mem, Disk: &mapDisk{}, Network: net})
	p := make([]byte, 100)
	for i := 0; i < 3; i++ {
		n, err := r.ReadAt(context.Background(), &m.Entries[1], p, 3990)
		if err != nil || n != 100 || !bytes.Equal(p, content[3990:4090]) {
			t.Fatalf("ReadAt = %d, %v; bytes equal: %v", n, err, bytes.Equal(p, content[3990:4090]))
		}
	}
	if net.fetches != 2 {
		t.Errorf("network fetched %d pieces for three reads across two pieces, want 2 (then memory)", net.fetches)
	}
}

func TestReaderErrors(t *testing.T) {
	m, _, _ := fixture(t, 10000)
	boom := errors.New("boom")
	r := New(m, Options{Memory: newMem(nil), Disk: &mapDisk{}, Network: &mapNet{err: boom}})
	n, err := r.ReadAt(context.Background(), &m.Entries[1], make([]byte, 10), 0)
	if n != 0 || !errors.Is(err, boom) {
		t.Fatalf("ReadAt = %d, %v; want 0 and an error wrapping %v", n, err, boom)
	}
	n, err = r.ReadAt(context.Background(), &m.Entries[1], make([]byte, 10), 10000)
	if n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at EOF = %d, %v; want 0, EOF", n, err)
	}
}
