package fs

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

const (
	testPieceSize = 4096
	baseMtime     = 1700000000123456789 // ns; the ns part must survive a mount
)

// errUnavailable is what the test reader fails with for "broken.bin".
var errUnavailable = errors.New("piece unavailable")

// fixture is a hand-built manifest with every kind of entry, the bytes of
// its files, and a FileReader over them.
type fixture struct {
	m       *meta.Manifest
	content map[string][]byte // file path → bytes
	pieces  map[meta.Digest][]byte
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{
		m:       &meta.Manifest{Format: meta.Format, Version: meta.VersionWholePieces, PieceSize: testPieceSize},
		content: map[string][]byte{},
		pieces:  map[meta.Digest][]byte{},
	}
	f.add(meta.Entry{Path: ".", Kind: meta.KindDir, Mode: 0755})
	// A hardlink listed before its target and the target's directory.
	f.add(meta.Entry{Path: "hardlink", Kind: meta.KindHardlink, Target: "dir/later.txt"})
	f.add(meta.Entry{Path: "dir", Kind: meta.KindDir, Mode: 01777, UID: 1000, GID: 100,
		Xattrs: map[string][]byte{"user.b": []byte("bee"), "user.a": []byte("a value"), "user.empty": {}}})
	f.add(meta.Entry{Path: "dir/sub", Kind: meta.KindDir, Mode: 02750})
	f.file(meta.Entry{Path: "dir/later.txt", Mode: 0640, UID: 33, GID: 44,
		Xattrs: map[string][]byte{"user.shared": []byte("yes")}}, "linked twice\n")
	f.file(meta.Entry{Path: "hello.txt", Mode: 0644,
		Xattrs: map[string][]byte{"user.greeting": []byte("hi")}}, "hello, world\n")
	f.file(meta.Entry{Path: "empty", Mode: 0600}, "")
	f.file(meta.Entry{Path: "big.bin", Mode: 0444}, strings.Repeat("0123456789abcdef", 3*testPieceSize/16+7))
	f.file(meta.Entry{Path: "suid", Mode: 04755}, "#!/bin/sh\n")
	f.file(meta.Entry{Path: "héllo wörld ✓.txt", Mode: 0644}, "non-ASCII\n")
	f.file(meta.Entry{Path: "broken.bin", Mode: 0644}, "never readable")
	f.file(meta.Entry{Path: "short.bin", Mode: 0644}, "the reader returns half of this")
	f.add(meta.Entry{Path: "link", Kind: meta.KindSymlink, Mode: 0777, Target: "hello.txt"})
	f.add(meta.Entry{Path: "fifo", Kind: meta.KindFifo, Mode: 0644})
	f.add(meta.Entry{Path: "null", Kind: meta.KindChar, Mode: 0666, DevMajor: 1, DevMinor: 3})
	f.add(meta.Entry{Path: "sda", Kind: meta.KindBlock, Mode: 0660, GID: 6, DevMajor: 8, DevMinor: 0})
	if err := f.m.Validate(); err != nil {
		t.Fatalf("fixture manifest: %v", err)
	}
	return f
}

// add appends e with an mtime that differs per entry.
func (f *fixture) add(e meta.Entry) {
	e.Mtime = baseMtime + int64(len(f.m.Entries))*1_000_000_007
	f.m.Entries = append(f.m.Entries, e)
}

// file adds a regular file holding s, one piece per PieceSize bytes.
func (f *fixture) file(e meta.Entry, s string) {
	e.Kind, e.Size = meta.KindFile, int64(len(s))
	f.content[e.Path] = []byte(s)
	for b := []byte(s); len(b) > 0; {
		n := min(len(b), testPieceSize)
		d := meta.Sum(b[:n])
		f.pieces[d] = b[:n]
		f.m.Pieces = append(f.m.Pieces, meta.Piece{Digest: d, Size: int64(n)})
		e.Extents = append(e.Extents, meta.Extent{Piece: len(f.m.Pieces) - 1, Length: int64(n)})
		b = b[n:]
	}
	f.add(e)
}

func (f *fixture) index(t testing.TB, p string) int {
	t.Helper()
	i, ok := f.m.Lookup(p)
	if !ok {
		t.Fatalf("fixture has no %q", p)
	}
	return i
}

// ReadAt serves the fixture's pieces, failing for broken.bin and returning
// too few bytes for short.bin.
func (f *fixture) ReadAt(ctx context.Context, e *meta.Entry, p []byte, off int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	switch e.Path {
	case "broken.bin":
		return 0, errUnavailable
	case "short.bin":
		p = p[:len(p)/2]
	}
	n := 0
	for _, s := range f.m.AppendSlices(nil, e, off, int64(len(p))) {
		n += copy(p[n:], f.pieces[s.Piece.Digest][s.Offset:s.Offset+s.Length])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// wantMode is the full st_mode of the fixture's entry at p.
func (f *fixture) wantMode(t testing.TB, p string) uint32 {
	e := &f.m.Entries[f.m.Inode(f.index(t, p))]
	return typeBits(e.Kind) | e.Mode
}

// requireFUSE skips a test that needs /dev/fuse when it cannot be used,
// and fails it instead under CI=true, where a skip would hide a gap.
func requireFUSE(t *testing.T) {
	t.Helper()
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err == nil {
		dev.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("FUSE is required under CI=true: %v", err)
	}
	t.Skipf("FUSE is not usable: %v", err)
}

// rootNames lists the fixture's top-level names, sorted as os.ReadDir
// sorts them.
func (f *fixture) rootNames() []string {
	var names []string
	for _, e := range f.m.Entries[1:] {
		if path.Dir(e.Path) == "." {
			names = append(names, e.Path)
		}
	}
	slices.Sort(names)
	return names
}
