package publish

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

type memSink map[meta.Digest][]byte

func (s memSink) PutPiece(d meta.Digest, b []byte) error {
	if meta.Sum(b) != d {
		panic("sink given a piece under the wrong digest")
	}
	s[d] = append([]byte(nil), b...)
	return nil
}

func (s memSink) PutBlocks(d meta.Digest, table []byte) error {
	if meta.Sum(table) != d {
		panic("sink given a block table under the wrong digest")
	}
	s[d] = append([]byte(nil), table...)
	return nil
}

// content reassembles a file from the sink, as a mount would.
func content(t *testing.T, m *meta.Manifest, s memSink, p string) []byte {
	t.Helper()
	i, ok := m.Lookup(p)
	if !ok {
		t.Fatalf("%s not in manifest", p)
	}
	e := &m.Entries[m.Inode(i)]
	var out []byte
	for _, sl := range m.AppendSlices(nil, e, 0, e.Size) {
		out = append(out, s[sl.Piece.Digest][sl.Offset:sl.Offset+sl.Length]...)
	}
	return out
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestBuild(t *testing.T) {
	const ps = 4096
	src := t.TempDir()
	files := map[string][]byte{
		"empty":      nil,
		"one":        {'x'},
		"below":      randBytes(ps - 1),
		"exact":      randBytes(ps),
		"above":      randBytes(ps + 1),
		"big":        randBytes(3*ps + 17),
		"d/e/small1": randBytes(100),
		"d/e/small2": randBytes(2000),
		"d/same":     []byte("identical"),
		"d/e/same":   []byte("identical"),
		"ñandú/日本語":  []byte("unicode"),
	}
	for p, b := range files {
		writeFile(t, filepath.Join(src, p), b)
	}
	must(t, os.Mkdir(filepath.Join(src, "emptydir"), 0o755))
	must(t, os.Chmod(filepath.Join(src, "emptydir"), os.ModeSticky|0o777))
	must(t, os.Symlink("../one", filepath.Join(src, "d/rel")))
	must(t, os.Symlink("/nonexistent", filepath.Join(src, "dangling")))
	must(t, os.Link(filepath.Join(src, "big"), filepath.Join(src, "d/biglink")))
	must(t, syscall.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	must(t, os.Chmod(filepath.Join(src, "one"), os.ModeSetuid|0o755))
	xattrOK := syscall.Setxattr(filepath.Join(src, "one"), "user.test", []byte("v"), 0) == nil

	sink := memSink{}
	m, err := Build(context.Background(), src, sink, Options{PieceSize: ps})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for p, want := range files {
		if got := content(t, m, sink, p); !bytes.Equal(got, want) {
			t.Errorf("%s: content differs (%d bytes, want %d)", p, len(got), len(want))
		}
	}
	if got := content(t, m, sink, "d/biglink"); !bytes.Equal(got, files["big"]) {
		t.Errorf("hardlink content differs")
	}
	checkEntry(t, m, "d/biglink", func(e meta.Entry) bool { return e.Kind == meta.KindHardlink && e.Target == "big" })
	checkEntry(t, m, "d/rel", func(e meta.Entry) bool { return e.Kind == meta.KindSymlink && e.Target == "../one" })
	checkEntry(t, m, "dangling", func(e meta.Entry) bool { return e.Target == "/nonexistent" })
	checkEntry(t, m, "fifo", func(e meta.Entry) bool { return e.Kind == meta.KindFifo && e.Mode == 0o600 })
	checkEntry(t, m, "emptydir", func(e meta.Entry) bool { return e.Kind == meta.KindDir && e.Mode == 0o1777 })
	checkEntry(t, m, "one", func(e meta.Entry) bool { return e.Mode == 0o4755 })
	if xattrOK {
		checkEntry(t, m, "one", func(e meta.Entry) bool { return string(e.Xattrs["user.test"]) == "v" })
	}
	// Small files share pieces and are never split.
	for _, p := range []string{"one", "below", "d/e/small1", "d/e/small2"} {
		i, _ := m.Lookup(p)
		if n := len(m.Entries[i].Extents); n != 1 {
			t.Errorf("%s: %d extents, want 1", p, n)
		}
	}
	i1, _ := m.Lookup("d/same")
	i2, _ := m.Lookup("d/e/same")
	if m.Entries[i1].Extents[0] != m.Entries[i2].Extents[0] {
		t.Errorf("identical small files stored twice")
	}
	// A large file's pieces are its own: it starts at offset 0 of a piece.
	ib, _ := m.Lookup("big")
	if x := m.Entries[ib].Extents[0]; x.Offset != 0 || x.Length != ps {
		t.Errorf("big: first extent %+v, want a whole piece", x)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	src := t.TempDir()
	for i, n := range []int{10, 5000, 20000, 0} {
		writeFile(t, filepath.Join(src, "f", string(rune('a'+i))), randBytes(n))
	}
	enc := func() []byte {
		m, err := Build(context.Background(), src, memSink{}, Options{PieceSize: 8192})
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if a, b := enc(), enc(); !bytes.Equal(a, b) {
		t.Fatal("two builds of the same tree differ")
	}
}

func TestBuildErrors(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("x"))
	if _, err := Build(context.Background(), filepath.Join(src, "f"), memSink{}, Options{}); err == nil {
		t.Error("Build of a regular file succeeded")
	}
	if _, err := Build(context.Background(), filepath.Join(src, "missing"), memSink{}, Options{}); err == nil {
		t.Error("Build of a missing directory succeeded")
	}
	if _, err := Build(context.Background(), src, memSink{}, Options{PieceSize: 100}); err == nil {
		t.Error("Build with a tiny piece size succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, src, memSink{}, Options{}); err == nil {
		t.Error("Build with a cancelled context succeeded")
	}
	if os.Geteuid() != 0 { // root reads everything
		must(t, os.Chmod(filepath.Join(src, "f"), 0))
		if _, err := Build(context.Background(), src, memSink{}, Options{}); err == nil {
			t.Error("Build of an unreadable file succeeded")
		}
	}
}

func checkEntry(t *testing.T, m *meta.Manifest, p string, ok func(meta.Entry) bool) {
	t.Helper()
	i, found := m.Lookup(p)
	if !found {
		t.Errorf("%s: not in manifest", p)
		return
	}
	if !ok(m.Entries[i]) {
		t.Errorf("%s: unexpected entry %+v", p, m.Entries[i])
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
