package faults

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// The procedural file: larger than 2 GiB, so offsets overflow int32, with a
// short last piece. Its bytes are a function of their position and are
// never all generated; only the pieces that the reads touch exist anywhere.
const (
	hugePieceSize = 1 << 20
	hugeSize      = 2<<30 + 12345
	hugePieces    = (hugeSize + hugePieceSize - 1) / hugePieceSize
)

// hugePiece returns the bytes of piece i: a splitmix64 stream keyed by i,
// so that every piece differs and a byte read from the wrong offset or the
// wrong piece shows.
func hugePiece(i int) []byte {
	n := min(hugePieceSize, hugeSize-int64(i)*hugePieceSize)
	b := make([]byte, (n+7)&^7)
	for j := 0; j < len(b); j += 8 {
		binary.LittleEndian.PutUint64(b[j:], splitmix(uint64(i)<<32|uint64(j)))
	}
	return b[:n]
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// hugeRead is one read of the plan.
type hugeRead struct {
	off int64
	n   int
}

// planReads draws each reader's reads from a fixed seed. A read starts in
// one of a few regions spread over the file (its start, its middle, both
// sides of the 2 GiB mark, its end) and is a byte to a piece and a half
// long, so reads cross piece boundaries and the end of the file while the
// pieces touched stay few.
func planReads(readers, each int) [][]hugeRead {
	rng := rand.New(rand.NewPCG(3, 4))
	regions := []int{0, 1, 517, 1023, 1024, 1999, hugePieces - 3, hugePieces - 2}
	for len(regions) < 16 {
		regions = append(regions, rng.IntN(hugePieces-1))
	}
	plan := make([][]hugeRead, readers)
	for g := range plan {
		for range each {
			off := int64(regions[rng.IntN(len(regions))])*hugePieceSize + rng.Int64N(hugePieceSize)
			n := 1 + rng.IntN(64<<10)
			if rng.IntN(4) == 0 {
				n = 1 + rng.IntN(hugePieceSize*3/2)
			}
			plan[g] = append(plan[g], hugeRead{off: off, n: n})
		}
	}
	return plan
}

// hugeTree is the manifest of the procedural file and the bytes of the
// pieces the plan touches.
type hugeTree struct {
	m      *meta.Manifest
	e      *meta.Entry
	pieces map[int][]byte // index → bytes, for touched pieces
	paths  map[string]int // URL path → index, for touched pieces
}

// buildHuge makes the manifest of one file "huge" by hand. Hashing 2 GiB
// would cost more than the whole test, so only the pieces the plan touches
// get their real digest; the others get a digest that no content has, and
// a read that strays outside the plan fails verification instead of
// passing unnoticed.
func buildHuge(t *testing.T, plan [][]hugeRead) *hugeTree {
	t.Helper()
	touched := touchedPieces(plan)
	h := &hugeTree{pieces: make(map[int][]byte), paths: make(map[string]int)}
	m := &meta.Manifest{Format: meta.Format, Version: meta.VersionWholePieces, PieceSize: hugePieceSize}
	file := meta.Entry{Path: "huge", Kind: meta.KindFile, Mode: 0o444, Size: hugeSize}
	for i := range hugePieces {
		size := min(hugePieceSize, hugeSize-int64(i)*hugePieceSize)
		d := meta.Sum([]byte(fmt.Sprintf("no content: piece %d", i)))
		if touched[i] {
			h.pieces[i] = hugePiece(i)
			d = meta.Sum(h.pieces[i])
			h.paths[piecePath(d)] = i
		}
		m.Pieces = append(m.Pieces, meta.Piece{Digest: d, Size: size})
		file.Extents = append(file.Extents, meta.Extent{Piece: i, Length: size})
	}
	m.Entries = []meta.Entry{{Path: ".", Kind: meta.KindDir, Mode: 0o755}, file}
	if err := m.Validate(); err != nil {
		t.Fatalf("the hand-made manifest: %v", err)
	}
	h.m, h.e = m, &m.Entries[1]
	return h
}

// touchedPieces returns the indexes of the pieces the plan's reads cover.
func touchedPieces(plan [][]hugeRead) map[int]bool {
	touched := make(map[int]bool)
	for _, reads := range plan {
		for _, r := range reads {
			end := min(r.off+int64(r.n), hugeSize)
			for i := r.off / hugePieceSize; i*hugePieceSize < end; i++ {
				touched[int(i)] = true
			}
		}
	}
	return touched
}

// want returns the file's bytes [off, off+n), clamped at its end, from the
// touched pieces.
func (h *hugeTree) want(off int64, n int) []byte {
	end := min(off+int64(n), hugeSize)
	out := make([]byte, 0, max(end-off, 0))
	for off < end {
		i := off / hugePieceSize
		p := h.pieces[int(i)][off-i*hugePieceSize:]
		p = p[:min(int64(len(p)), end-off)]
		out = append(out, p...)
		off += int64(len(p))
	}
	return out
}

// hugeOrigin serves the touched pieces, generating each on request, and
// counts the requests per piece; anything else is a 404, counted as stray.
type hugeOrigin struct {
	h *hugeTree

	mu     sync.Mutex // guards hits and strays
	hits   map[int]int
	strays []string
}

// ServeHTTP implements http.Handler.
func (o *hugeOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, ok := o.count(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	b := hugePiece(i)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func (o *hugeOrigin) count(path string) (int, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, ok := o.h.paths[path]
	if !ok {
		o.strays = append(o.strays, path)
		return 0, false
	}
	o.hits[i]++
	return i, true
}
