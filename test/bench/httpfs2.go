package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// httpfs2MaxSize is the largest file httpfs2 can mount: Debian's 0.1.4
// loses its FUSE connection at the first lookup of a file of 2 GiB or more
// (its size is a signed 32-bit number).
const httpfs2MaxSize = 1<<31 - 4096

// httpfs2Mount mounts one file URL with httpfs2, which caches nothing and
// verifies nothing: each read the kernel passes on is one range GET.
type httpfs2Mount struct {
	b   *bench
	url string // of the httpfs2 file, at the origin or a relay
	mnt string
}

func (s *httpfs2Mount) name() string { return "httpfs2" }

// start mounts the file afresh; httpfs2 has no cache, so every mount is
// cold. -f keeps it in the foreground; -c names where it sends its
// messages (by default the system console).
func (s *httpfs2Mount) start(ctx context.Context, _ bool) (*mount, error) {
	if err := prepare("", s.mnt, false); err != nil {
		return nil, err
	}
	return s.b.startSilent(ctx, s.mnt, s.b.tools.httpfs2, "-f", "-c", "/dev/stderr", s.url, s.mnt)
}

// makePeerFile gives httpfs2 the big file as dir/bigName: a hard link to
// src when it is small enough, else a copy of its first httpfs2MaxSize
// bytes. It returns the size of what it made.
func makePeerFile(src, dir string) (int64, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	dst := filepath.Join(dir, bigName)
	if fi.Size() <= httpfs2MaxSize {
		return fi.Size(), os.Link(src, dst)
	}
	return httpfs2MaxSize, copyPrefix(src, dst, httpfs2MaxSize)
}

// copyPrefix copies the first n bytes of src to a new file dst.
func copyPrefix(src, dst string, n int64) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	// *os.File to *os.File: copy_file_range, in the kernel.
	if _, err := io.CopyN(out, in, n); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// preparePeer makes the httpfs2 file, when httpfs2 is installed.
func (b *bench) preparePeer(context.Context) (err error) {
	if b.tools.httpfs2 == "" {
		return nil
	}
	b.peerDir = filepath.Join(b.tmp, "httpfs2")
	b.peerSize, err = makePeerFile(b.data.bigPath(), b.peerDir)
	return err
}
