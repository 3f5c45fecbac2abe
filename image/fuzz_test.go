package image

import (
	"archive/tar"
	"io"
	"strings"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// fuzzNames are the names a fuzzed layer entry may have: enough to meet
// every case of the flattening (nesting, whiteouts, opaque directories,
// escapes, the root).
var fuzzNames = []string{".", "a", "b", "a/b", "a/c", "a/b/c", "b/a", ".wh.a", "a/.wh.b", "a/.wh..wh..opq",
	".wh..wh..opq", "a/.wh..wh.plnk", "../x", "/a", "a/../b", ".wh..", ""}

var fuzzTypes = []byte{tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeFifo, 'Z'}

// FuzzFlatten applies layers made of fuzzed entries to a tree and emits
// it. Whatever it accepts must make a valid manifest (files get no
// content here); nothing may panic.
func FuzzFlatten(f *testing.F) {
	f.Add([]byte{0, 1, 0, 3, 0, 0, 255, 1, 7, 0, 0})
	f.Add([]byte{1, 1, 0, 3, 0, 0, 0, 4, 3, 2, 255, 9, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newTree(100)
		layer, seq := 0, 0
		var hs []hdr
		flush := func() bool {
			err := tr.apply(layer, hs)
			hs, layer, seq = nil, layer+1, 0
			return err == nil
		}
		for i := 0; i+2 < len(data); i += 3 {
			if data[i] == 255 {
				if !flush() {
					return
				}
				continue
			}
			h := &tar.Header{Name: fuzzNames[int(data[i])%len(fuzzNames)], Typeflag: fuzzTypes[int(data[i+1])%len(fuzzTypes)],
				Linkname: fuzzNames[int(data[i+2])%len(fuzzNames)], Mode: int64(data[i+2]) << 4}
			if err := tr.count(h); err != nil {
				return
			}
			x, err := newHdr(seq, h)
			if err != nil {
				return
			}
			hs = append(hs, x)
			seq++
		}
		if !flush() {
			return
		}
		m := &meta.Manifest{Format: meta.Format, Version: meta.Version, PieceSize: meta.DefaultPieceSize, BlockSize: meta.DefaultBlockSize}
		em := emitter{add: func(e meta.Entry, _ io.Reader) error {
			m.Entries = append(m.Entries, e)
			return nil
		}, files: make([][]*inode, layer)}
		tr.root.ino.name = "."
		if err := em.entry(tr.root.ino); err != nil {
			t.Fatal(err)
		}
		if err := em.walk(tr.root, "."); err != nil {
			t.Fatal(err)
		}
		for _, files := range em.files {
			for _, ino := range files {
				e := ino.e
				e.Path, e.Size = ino.name, 0
				m.Entries = append(m.Entries, e)
			}
		}
		m.Entries = append(m.Entries, em.links...)
		if err := m.Validate(); err != nil && !strings.Contains(err.Error(), "symlink target") {
			t.Fatalf("flattened to an invalid manifest: %v", err)
		}
	})
}
