package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// loadManifest decodes the shared tree's published manifest.
func loadManifest(t *testing.T) *meta.Manifest {
	t.Helper()
	d, err := meta.ParseDigest(fx.digest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(fx.out, filepath.FromSlash(meta.ManifestPath(d))))
	if err != nil {
		t.Fatalf("read the published manifest: %v", err)
	}
	m, err := meta.Decode(b)
	if err != nil {
		t.Fatalf("decode the published manifest: %v", err)
	}
	return m
}

// span is where one extent of a file lies, in the file and in the origin.
type span struct {
	start, length int64 // in the file
	piece         meta.Piece
}

// fileSpans returns the spans of the regular file rel, in file order.
func fileSpans(t *testing.T, m *meta.Manifest, rel string) []span {
	t.Helper()
	i, ok := m.Lookup(rel)
	if !ok {
		t.Fatalf("the manifest has no entry %q", rel)
	}
	e := m.Entries[m.Inode(i)]
	var spans []span
	var off int64
	for _, x := range e.Extents {
		spans = append(spans, span{start: off, length: x.Length, piece: m.Pieces[x.Piece]})
		off += x.Length
	}
	return spans
}

// spanAt returns the span that holds byte off of the file.
func spanAt(t *testing.T, spans []span, off int64) span {
	t.Helper()
	for _, s := range spans {
		if off >= s.start && off < s.start+s.length {
			return s
		}
	}
	t.Fatalf("no extent holds offset %d", off)
	return span{}
}
