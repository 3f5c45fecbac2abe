package publish

import (
	"context"
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
