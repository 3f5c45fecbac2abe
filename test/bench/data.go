package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// The generated tree, under src/: one big random file and a tree of small
// ones. Seeds are fixed so that the same flags give the same bytes.
const (
	bigName  = "big.bin"
	treeName = "tree"
	// filesPerDir is the mean number of small files in a directory.
	filesPerDir = 40
	minSmall    = 1 << 10
	maxSmall    = 64 << 10
)

// dataset describes what generate wrote.
type dataset struct {
	src       string // the directory that is published
	bigSize   int64
	bigSHA    [sha256.Size]byte
	treeFiles int
	treeDirs  int   // directories under tree/, tree/ itself included
	treeBytes int64 // content bytes of the small files
}

// entries is how many lines `find` prints for the published root.
func (d *dataset) entries() int64 { return int64(1 + 1 + d.treeDirs + d.treeFiles) }

func (d *dataset) bigPath() string  { return filepath.Join(d.src, bigName) }
func (d *dataset) treePath() string { return filepath.Join(d.src, treeName) }

// generate writes the data set into src.
func generate(ctx context.Context, src string, bigSize int64, files int) (*dataset, error) {
	d := &dataset{src: src, bigSize: bigSize, treeFiles: files}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	var err error
	if d.bigSHA, err = writeRandomFile(ctx, d.bigPath(), bigSize, rand.NewChaCha8(seed("big"))); err != nil {
		return nil, err
	}
	d.treeDirs, d.treeBytes, err = writeTree(ctx, d.treePath(), files)
	return d, err
}

// seed derives a fixed ChaCha8 seed from a name.
func seed(name string) [32]byte { return sha256.Sum256([]byte("piecefs-bench " + name)) }

// writeRandomFile writes size bytes from r to path and returns their sha256.
func writeRandomFile(ctx context.Context, path string, size int64, r io.Reader) (sum [sha256.Size]byte, err error) {
	f, err := os.Create(path)
	if err != nil {
		return sum, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", path, cerr)
		}
	}()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 4<<20)
	if _, err := io.Copy(w, io.LimitReader(ctxReader{ctx, r}, size)); err != nil {
		return sum, fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return sum, fmt.Errorf("write %s: %w", path, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

// writeTree writes files small files of 1–64 KiB into a random tree of
// directories under root (each directory's parent is an earlier one, so
// the tree nests a few levels deep). It returns the number of directories,
// root included, and of content bytes.
func writeTree(ctx context.Context, root string, files int) (int, int64, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	dirs := []string{root}
	for i := range max(1, files/filesPerDir) - 1 {
		dirs = append(dirs, filepath.Join(dirs[rng.IntN(len(dirs))], fmt.Sprintf("d%04d", i)))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, 0, err
		}
	}
	content := rand.NewChaCha8(seed("tree"))
	buf := make([]byte, maxSmall)
	var total int64
	for i := range files {
		if err := ctx.Err(); err != nil {
			return 0, 0, context.Cause(ctx)
		}
		b := buf[:minSmall+rng.IntN(maxSmall-minSmall+1)]
		_, _ = content.Read(b) // ChaCha8.Read never fails
		name := filepath.Join(dirs[rng.IntN(len(dirs))], fmt.Sprintf("f%06d.bin", i))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return 0, 0, err
		}
		total += int64(len(b))
	}
	return len(dirs), total, nil
}
