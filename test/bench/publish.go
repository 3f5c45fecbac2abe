package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/piecefs/piecefs/meta"
)

// publish runs `piecefs publish` with default settings and returns the
// manifest it wrote.
func publish(ctx context.Context, bin, src, out string) (*meta.Manifest, error) {
	s, err := output(ctx, bin, "publish", src, out)
	if err != nil {
		return nil, err
	}
	d, err := meta.ParseDigest(s)
	if err != nil {
		return nil, fmt.Errorf("piecefs publish printed %q: %w", s, err)
	}
	b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(meta.ManifestPath(d))))
	if err != nil {
		return nil, err
	}
	return meta.Decode(b)
}

// pieceURLs returns the URL of every piece of the file at path, in file
// order: what a client that knows the manifest fetches to read the file.
func pieceURLs(m *meta.Manifest, base, path string) ([]string, int64, error) {
	i, ok := m.Lookup(path)
	if !ok {
		return nil, 0, fmt.Errorf("manifest: no entry %q", path)
	}
	e := &m.Entries[m.Inode(i)]
	var urls []string
	var n int64
	for _, x := range e.Extents {
		if x.Offset != 0 || x.Length != m.Pieces[x.Piece].Size {
			return nil, 0, fmt.Errorf("manifest: %s uses part of piece %d; a big file should own whole pieces", path, x.Piece)
		}
		urls = append(urls, base+"/"+meta.PiecePath(m.Pieces[x.Piece].Digest))
		n += x.Length
	}
	return urls, n, nil
}

// hugeTag names the procedural manifest of writeHuge.
const hugeTag = "ttfb-huge"

// hugeName is the file of the procedural manifest.
const hugeName = "huge.bin"

// realHugePieces is how many leading pieces of the procedural file exist at
// the origin: enough for a read at offset 0 and any readahead behind it.
const realHugePieces = 4

// writeHuge adds to the publish output out a manifest of the format
// publish writes (version 2, 64 KiB blocks), tagged hugeTag, whose one file
// is gib GiB of 4 MiB pieces. Only the first realHugePieces pieces (and
// their block tables) are written; the rest are listed under digests of
// placeholder text, so the manifest is as large as a real one of that size
// while costing a few MiB of disk. Reads past the real pieces fail; the
// time-to-first-byte measurement reads one byte at offset 0.
func writeHuge(out string, gib int) error {
	const pieceSize = 4 << 20
	n := int(int64(gib) << 30 / pieceSize)
	m := &meta.Manifest{Format: meta.Format, Version: meta.Version, PieceSize: pieceSize, BlockSize: meta.DefaultBlockSize}
	file := meta.Entry{Path: hugeName, Kind: meta.KindFile, Mode: 0o644, Size: int64(n) * pieceSize}
	rng := rand.NewChaCha8(seed("huge"))
	buf := make([]byte, pieceSize)
	for i := range n {
		p := meta.Piece{
			Digest: meta.Sum(fmt.Appendf(nil, "piecefs-bench placeholder piece %d", i)),
			Size:   pieceSize,
			Blocks: meta.Sum(fmt.Appendf(nil, "piecefs-bench placeholder block table %d", i)),
		}
		if i < realHugePieces {
			_, _ = rng.Read(buf) // ChaCha8.Read never fails
			table := meta.BlockTable(buf, meta.DefaultBlockSize)
			p.Digest, p.Blocks = meta.Sum(buf), meta.Sum(table)
			if err := writeObject(out, meta.PiecePath(p.Digest), buf); err != nil {
				return err
			}
			if err := writeObject(out, meta.BlocksPath(p.Blocks), table); err != nil {
				return err
			}
		}
		m.Pieces = append(m.Pieces, p)
		file.Extents = append(file.Extents, meta.Extent{Piece: i, Length: pieceSize})
	}
	m.Entries = []meta.Entry{{Path: ".", Kind: meta.KindDir, Mode: 0o755}, file}
	return writeManifest(out, m, hugeTag)
}

// writeManifest validates m, writes it under its digest and points tag at it.
func writeManifest(out string, m *meta.Manifest, tag string) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("procedural manifest: %w", err)
	}
	b, err := m.Encode()
	if err != nil {
		return err
	}
	d := meta.Sum(b)
	if err := writeObject(out, meta.ManifestPath(d), b); err != nil {
		return err
	}
	return writeObject(out, meta.TagPath(tag), []byte(d.String()+"\n"))
}

// writeObject writes b at the slash path rel under out.
func writeObject(out, rel string, b []byte) error {
	p := filepath.Join(out, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", strings.TrimPrefix(p, out+"/"), err)
	}
	return nil
}
