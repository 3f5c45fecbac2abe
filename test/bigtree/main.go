// Command bigtree writes a large, valid published tree into an origin
// directory, to measure what a mount of a big manifest costs (see
// docs/performance.md, "Mounting a million entries").
//
//	go run ./test/bigtree -n 1000000 /tmp/bigtree-origin
//
// The tree has two levels of directories fanning out to -fanout files
// each, small files packed into shared pieces as piecefs publish packs
// them, and a sprinkling of symlinks, hardlinks and xattrs. Entries are
// listed in publish's walk order. Everything is derived from the entry
// number, so a given -n always gives the same manifest digest.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/origin"
)

func main() {
	n := flag.Int("n", 1_000_000, "entries in the manifest, the root included")
	fanout := flag.Int("fanout", 1000, "entries per leaf directory")
	tag := flag.String("tag", "latest", "tag to point at the manifest")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: bigtree [-n N] [-fanout F] [-tag NAME] OUT_DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *n < 1 || *fanout < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *n, *fanout, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "bigtree:", err)
		os.Exit(1)
	}
}

func run(out string, n, fanout int, tag string) error {
	dir, err := origin.OpenDir(out)
	if err != nil {
		return err
	}
	g := newGen(dir)
	g.tree(n, fanout)
	if err := g.flush(); err != nil {
		return err
	}
	if err := g.m.Validate(); err != nil {
		return err
	}
	b, err := g.m.Encode()
	if err != nil {
		return err
	}
	d, err := dir.PutManifest(b)
	if err != nil {
		return err
	}
	if err := dir.SetTag(tag, d); err != nil {
		return err
	}
	fmt.Printf("%s: %d entries, %d pieces, manifest %d bytes, tag %s\n", d, len(g.m.Entries), len(g.m.Pieces), len(b), tag)
	return nil
}

const (
	pieceSize = meta.DefaultPieceSize
	mtime     = 1_700_000_000_000_000_000
)

// gen builds the manifest and packs file contents into pieces.
type gen struct {
	dir  *origin.Dir
	m    *meta.Manifest
	pack []byte // the piece being filled
	err  error  // the first failure to write a piece
}

func newGen(dir *origin.Dir) *gen {
	return &gen{
		dir:  dir,
		m:    &meta.Manifest{Format: meta.Format, Version: meta.VersionWholePieces, PieceSize: pieceSize},
		pack: make([]byte, 0, pieceSize),
	}
}

// tree lists n entries: the root, top directories, leaf directories of
// fanout entries each, in publish's order (a directory's entries right
// after it, since these directories hold either only directories or only
// non-directories).
func (g *gen) tree(n, fanout int) {
	g.add(meta.Entry{Path: ".", Kind: meta.KindDir, Mode: 0o755})
	leaves := max(1, (n-1)/(fanout+1))
	per := int(math.Ceil(math.Sqrt(float64(leaves))))
	for t := 0; len(g.m.Entries) < n; t++ {
		top := fmt.Sprintf("d%03d", t)
		g.add(meta.Entry{Path: top, Kind: meta.KindDir, Mode: 0o755})
		for l := 0; l < per && len(g.m.Entries) < n; l++ {
			leaf := fmt.Sprintf("%s/d%03d", top, l)
			g.add(meta.Entry{Path: leaf, Kind: meta.KindDir, Mode: 0o755})
			for f := 0; f < fanout && len(g.m.Entries) < n; f++ {
				g.leafEntry(leaf, f)
			}
		}
	}
}

// leafEntry adds the f-th entry of directory leaf: mostly small files, one
// in 100 a symlink, one in 1000 a hardlink to the file before it, one file
// in 50 with an xattr.
func (g *gen) leafEntry(leaf string, f int) {
	i := len(g.m.Entries)
	p := fmt.Sprintf("%s/f%04d", leaf, f)
	switch {
	case f%1000 == 999:
		g.add(meta.Entry{Path: p, Kind: meta.KindHardlink, Target: fmt.Sprintf("%s/f%04d", leaf, f-1)})
	case f%100 == 99:
		g.add(meta.Entry{Path: p, Kind: meta.KindSymlink, Mode: 0o777, Target: "f0000"})
	default:
		e := meta.Entry{Path: p, Kind: meta.KindFile, Mode: 0o644}
		if f%50 == 7 {
			e.Xattrs = map[string][]byte{"user.n": fmt.Appendf(nil, "%d", i)}
		}
		g.file(e, 1+i*7919%256)
	}
}

// add appends e with an mtime that differs per entry.
func (g *gen) add(e meta.Entry) {
	if e.Kind != meta.KindHardlink {
		e.Mtime = mtime + int64(len(g.m.Entries))*1_000_000_007
	}
	g.m.Entries = append(g.m.Entries, e)
}

// file adds e as a file of size bytes packed into the current piece.
func (g *gen) file(e meta.Entry, size int) {
	if len(g.pack)+size > pieceSize {
		g.err = g.flush()
	}
	off := len(g.pack)
	for k := range size {
		g.pack = append(g.pack, byte(len(g.m.Entries)+k))
	}
	e.Size = int64(size)
	e.Extents = []meta.Extent{{Piece: len(g.m.Pieces), Offset: int64(off), Length: int64(size)}}
	g.add(e)
}

// flush writes the current piece, if it holds anything.
func (g *gen) flush() error {
	if g.err != nil || len(g.pack) == 0 {
		return g.err
	}
	d := meta.Sum(g.pack)
	g.m.Pieces = append(g.m.Pieces, meta.Piece{Digest: d, Size: int64(len(g.pack))})
	err := g.dir.PutPiece(d, g.pack)
	g.pack = g.pack[:0]
	return err
}
