package faults

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/origin"
	// Renamed because this package's publish func builds the test tree.
	pub "github.com/piecefs/piecefs/publish"
)

// pieceSize is small so that a file of a few hundred KiB spans several
// pieces, and a fault on one of them leaves healthy neighbours on both sides.
const pieceSize = 64 << 10

// Files of the published tree.
const (
	bigFile   = "big.bin"   // several pieces of its own, the last one short
	smallFile = "a.txt"     // packed with the other small files into one piece
	otherFile = "sub/c.txt" // in the same pack as smallFile
)

// tree is a published directory: what was published, the manifest, and a
// copy of every piece for the checks.
type tree struct {
	root   string // the publish output directory the origin serves
	m      *meta.Manifest
	files  map[string][]byte      // path → content
	pieces map[meta.Digest][]byte // every piece the build produced
}

// teeSink writes pieces into the output directory and keeps a copy.
type teeSink struct {
	dir    *origin.Dir
	pieces map[meta.Digest][]byte
}

// PutPiece implements publish.Sink. Build reuses its buffer, hence the clone.
func (s *teeSink) PutPiece(d meta.Digest, data []byte) error {
	s.pieces[d] = bytes.Clone(data)
	return s.dir.PutPiece(d, data)
}

// PutBlocks implements publish.Sink.
func (s *teeSink) PutBlocks(d meta.Digest, table []byte) error { return s.dir.PutBlocks(d, table) }

// publish writes a small tree and publishes it with 64 KiB pieces.
func publish(t *testing.T) *tree {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	files := map[string][]byte{
		bigFile:   randomBytes(rng, 4*pieceSize+1000),
		smallFile: randomBytes(rng, 3000),
		"b.txt":   randomBytes(rng, 5000),
		otherFile: randomBytes(rng, 7000),
	}
	src := t.TempDir()
	for name, data := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	dir, err := origin.OpenDir(out)
	if err != nil {
		t.Fatal(err)
	}
	sink := &teeSink{dir: dir, pieces: make(map[meta.Digest][]byte)}
	m, err := pub.Build(context.Background(), src, sink, pub.Options{PieceSize: pieceSize})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	publishManifest(t, dir, m)
	return &tree{root: out, m: m, files: files, pieces: sink.pieces}
}

// publishManifest completes the output directory as `piecefs publish` does,
// so the origin serves a whole publication and not just its pieces.
func publishManifest(t *testing.T, dir *origin.Dir, m *meta.Manifest) {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := dir.PutManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.SetTag("latest", d); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// entry returns the manifest entry of path.
func (tr *tree) entry(t *testing.T, path string) *meta.Entry {
	t.Helper()
	i, ok := tr.m.Lookup(path)
	if !ok {
		t.Fatalf("%s is not in the manifest", path)
	}
	return &tr.m.Entries[i]
}

// faultRange returns the piece a fault is put on for a read of file path,
// and a range of the file that covers all of that piece's bytes in the file
// and up to 100 bytes of the neighbours on either side: in the big file its
// second extent, so that healthy pieces come before and after it.
func (tr *tree) faultRange(t *testing.T, path string) (meta.Piece, int64, int) {
	t.Helper()
	e := tr.entry(t, path)
	k := 0
	if len(e.Extents) > 2 {
		k = 1
	}
	var start int64
	for _, x := range e.Extents[:k] {
		start += x.Length
	}
	x := e.Extents[k]
	off := max(start-100, 0)
	end := min(start+x.Length+100, e.Size)
	return tr.m.Pieces[x.Piece], off, int(end - off)
}

// piecePath is the URL path the fetcher asks for piece d under.
func piecePath(d meta.Digest) string { return "/" + meta.PiecePath(d) }
