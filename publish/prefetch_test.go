package publish

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// TestBuildPrefetch: a prefetch list is resolved against the tree built
// (unknown paths and directories dropped with a warning, ranges clamped),
// stored in the sink under its digest and named by the manifest, which
// decodes again with it.
func TestBuildPrefetch(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "bin/app"), randBytes(5000))
	writeFile(t, filepath.Join(src, "lib/x.so"), randBytes(100))
	l := meta.NewPrefetchList()
	l.Ranges = []meta.PrefetchRange{
		{Path: "lib/x.so", Offset: 0, Length: 4096},
		{Path: "gone", Offset: 0, Length: 1},
		{Path: "bin", Offset: 0, Length: 1},
		{Path: "bin/app", Offset: 4096, Length: 4096},
	}
	var warned []string
	sink := memSink{}
	m, err := Build(context.Background(), src, sink, Options{PieceSize: 4096, Prefetch: l, Warn: func(p, why string) {
		warned = append(warned, p+": "+why)
	}})
	must(t, err)
	if m.Prefetch == nil {
		t.Fatal("no prefetch list in the manifest")
	}
	b, ok := sink[m.Prefetch.Digest]
	if !ok || int64(len(b)) != m.Prefetch.Size {
		t.Fatalf("the sink holds %d bytes under the list's digest, want %d", len(b), m.Prefetch.Size)
	}
	got, err := meta.DecodePrefetch(b)
	must(t, err)
	want := []meta.PrefetchRange{{Path: "lib/x.so", Offset: 0, Length: 100}, {Path: "bin/app", Offset: 4096, Length: 904}}
	if !reflect.DeepEqual(got.Ranges, want) {
		t.Errorf("published %v, want %v", got.Ranges, want)
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "gone") || !strings.Contains(warned[1], "not a regular file") {
		t.Errorf("warnings %q, want one for gone and one for bin", warned)
	}
	enc, err := m.Encode()
	must(t, err)
	d, err := meta.Decode(enc)
	must(t, err)
	if *d.Prefetch != *m.Prefetch {
		t.Errorf("decoded %+v, want %+v", d.Prefetch, m.Prefetch)
	}
}

// TestBuildPrefetchNoneApplies: a list none of whose ranges applies
// publishes no list, and says so.
func TestBuildPrefetchNoneApplies(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("x"))
	l := meta.NewPrefetchList()
	l.Ranges = []meta.PrefetchRange{{Path: "other", Offset: 0, Length: 1}}
	warned := 0
	m, err := Build(context.Background(), src, memSink{}, Options{Prefetch: l, Warn: func(string, string) { warned++ }})
	must(t, err)
	if m.Prefetch != nil || warned != 2 {
		t.Errorf("prefetch %+v after %d warnings; want none after 2", m.Prefetch, warned)
	}
}

// TestBuildPacksPrefetchTogether: the small files a prefetch list names
// share pieces with one another, apart from the files it does not name,
// however the walk interleaves them; without a list the same tree packs
// them together in walk order.
func TestBuildPacksPrefetchTogether(t *testing.T) {
	src := t.TempDir()
	l := meta.NewPrefetchList()
	hot := map[string]bool{}
	for i := range 16 {
		p := fmt.Sprintf("d/%02d", i)
		writeFile(t, filepath.Join(src, p), randBytes(900))
		if i%2 == 1 {
			hot[p] = true
			l.Ranges = append(l.Ranges, meta.PrefetchRange{Path: p, Length: 1})
		}
	}
	// mixed counts the pieces holding both named and unnamed files.
	mixed := func(m *meta.Manifest) (n int) {
		kinds := map[int]map[bool]bool{}
		for _, e := range m.Entries {
			if e.Kind != meta.KindFile {
				continue
			}
			x := e.Extents[0].Piece
			if kinds[x] == nil {
				kinds[x] = map[bool]bool{}
			}
			kinds[x][hot[e.Path]] = true
		}
		for _, k := range kinds {
			if len(k) == 2 {
				n++
			}
		}
		return n
	}
	sink := memSink{}
	m, err := Build(context.Background(), src, sink, Options{PieceSize: 4096, Prefetch: l})
	must(t, err)
	if n := mixed(m); n != 0 {
		t.Errorf("with the list, %d pieces hold files it names and files it does not", n)
	}
	// 16 files of 900 bytes, 4 a piece: 2 pieces of each kind.
	if len(m.Pieces) != 4 {
		t.Errorf("%d pieces, want 4", len(m.Pieces))
	}
	for _, e := range m.Entries {
		if e.Kind != meta.KindFile {
			continue
		}
		want, err := os.ReadFile(filepath.Join(src, e.Path))
		must(t, err)
		x := e.Extents[0]
		got := sink[m.Pieces[x.Piece].Digest][x.Offset : x.Offset+x.Length]
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the manifest's bytes differ from the file's", e.Path)
		}
	}
	plain, err := Build(context.Background(), src, memSink{}, Options{PieceSize: 4096})
	must(t, err)
	if n := mixed(plain); n == 0 {
		t.Error("without a list, no piece mixes the two kinds of files: the test shows nothing")
	}
	if len(plain.Pieces) != len(m.Pieces) {
		t.Errorf("%d pieces without the list, %d with; want the same", len(plain.Pieces), len(m.Pieces))
	}
}
