package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/piecefs/piecefs/internal/durable"
)

// diskWritePiece is the size of each file the durable-write ceiling writes:
// the default piece size.
const diskWritePiece = 4 << 20

// diskWriteSuite measures how fast the file system that holds the cache
// directories takes data durably, the way the store takes fetched pieces:
// files of a piece each, written, fsynced and closed, their directory
// fsynced. A cold read that caches every byte it reads can stream no
// faster for long, so the row beside the cold read shows how near piecefs
// comes to it.
func (b *bench) diskWriteSuite(ctx context.Context, t *table) error {
	size := min(b.data.bigSize, 1<<30)
	dir := filepath.Join(b.tmp, "diskwrite")
	err := b.repeat(ctx, t.diskWrite, colBase, func(ctx context.Context) (float64, memUse, error) {
		d, err := writeDurably(ctx, dir, size)
		return mibps(size, d), memUse{}, err
	})
	t.diskWrite.note = fmt.Sprintf("durable write: %s in files of %s (write, fsync, close; then the directory fsynced) on the caches' file system, one at a time", formatSize(size), formatSize(diskWritePiece))
	return err
}

// writeDurably writes size bytes of random data into new files of
// diskWritePiece bytes in dir, each made durable before the next, and
// returns how long it took. dir is removed afterwards.
func writeDurably(ctx context.Context, dir string, size int64) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	buf := make([]byte, diskWritePiece)
	rng := rand.NewChaCha8(seed("diskwrite"))
	_, _ = rng.Read(buf) // never fails
	start := time.Now()
	for i := int64(0); i*diskWritePiece < size; i++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		buf[0], buf[1] = byte(i), byte(i>>8) // no two files alike
		n := min(diskWritePiece, size-i*diskWritePiece)
		if err := writeFileSync(filepath.Join(dir, fmt.Sprint(i)), buf[:n]); err != nil {
			return 0, err
		}
	}
	if err := durable.SyncDir(dir); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func writeFileSync(name string, b []byte) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
