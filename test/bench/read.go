package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// readBuf is the read size of every sequential read: what a copy tool or a
// model loader asks for, and the FUSE request size of piecefs.
const readBuf = 1 << 20

// readSeq reads the file at path from start to end with 1 MiB reads,
// writing the bytes to h (a hash, or a progress record) when h is not nil,
// and returns how long that took, open included. It fails unless it read
// want bytes.
func readSeq(ctx context.Context, path string, want int64, h io.Writer) (time.Duration, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, readBuf)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, context.Cause(ctx)
		}
		k, err := f.Read(buf)
		n += int64(k)
		if h != nil {
			h.Write(buf[:k])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read %s at %d: %w", path, n, err)
		}
	}
	d := time.Since(start)
	if n != want {
		return 0, fmt.Errorf("read %s: got %d bytes, want %d", path, n, want)
	}
	return d, nil
}

// readVerified reads the file at path and checks its sha256.
func readVerified(ctx context.Context, path string, want int64, sum [sha256.Size]byte) error {
	h := sha256.New()
	if _, err := readSeq(ctx, path, want, h); err != nil {
		return err
	}
	if got := h.Sum(nil); string(got) != string(sum[:]) {
		return fmt.Errorf("read %s: sha256 %x, want %x: the mount returned wrong bytes", path, got, sum)
	}
	return nil
}

// firstByte opens the file at path, reads one byte at offset 0, and
// returns how long after since that byte arrived.
func firstByte(path string, since time.Time) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return 0, fmt.Errorf("read the first byte of %s: %w", path, err)
	}
	return time.Since(since), nil
}

// mibps is a throughput in MiB/s.
func mibps(n int64, d time.Duration) float64 { return mib(n) / d.Seconds() }
