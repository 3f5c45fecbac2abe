package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
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

// blockCommitSuite measures how many blocks per second the caches' file
// system takes durably in the order a cold random read must follow (the
// store's doc.go): a new sparse file for the block's piece in one of 256
// directories, the block written at a random offset and fsynced, the
// directory fsynced, then a record written and fdatasynced, the way the
// database commits. A cold random reader that keeps every block it reads
// can go no faster for long, however fast the origin.
func (b *bench) blockCommitSuite(ctx context.Context, t *table) error {
	dir := filepath.Join(b.tmp, "blockcommit")
	r := t.randomCommits
	err := b.repeat(ctx, r, colBase, func(ctx context.Context) (float64, memUse, error) {
		v, err := commitBlocks(ctx, dir, b.cfg.fioRuntime)
		return v, memUse{}, err
	})
	r.note = fmt.Sprintf("durable block commits: for %v, one at a time, a new 4 MiB sparse file in one of 256 directories, a 64 KiB block written and fsynced, the directory fsynced, a 4 KiB record written and fdatasynced", b.cfg.fioRuntime)
	return err
}

// commitBlocks commits blocks as blockCommitSuite says for d (at most
// 100,000) and returns commits per second. dir is removed afterwards.
func commitBlocks(ctx context.Context, dir string, d time.Duration) (float64, error) {
	const blockSize, pieceSize = 64 << 10, 4 << 20
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	for i := range 256 {
		if err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("%02x", i)), 0o755); err != nil {
			return 0, err
		}
	}
	db, err := os.Create(filepath.Join(dir, "records"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	block, record := make([]byte, blockSize), make([]byte, 4096)
	rng := rand.NewChaCha8(seed("blockcommit"))
	_, _ = rng.Read(block) // never fails
	start := time.Now()
	n := 0
	for ; n < 100_000 && time.Since(start) < d; n++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		sub := filepath.Join(dir, fmt.Sprintf("%02x", n%256))
		off := int64(n*7919%(pieceSize/blockSize)) * blockSize
		if err := commitBlock(filepath.Join(sub, fmt.Sprint(n)), sub, block, off); err != nil {
			return 0, err
		}
		if _, err := db.WriteAt(record, int64(n%64)*4096); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(int(db.Fd())); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// commitBlock makes one block durable in a new sparse piece file.
func commitBlock(name, dir string, block []byte, off int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	err = f.Truncate(4 << 20)
	if err == nil {
		_, err = f.WriteAt(block, off)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return durable.SyncDir(dir)
}
