package fetch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/piecefs/piecefs/meta"
)

// ErrContentRange means a 206 answer did not carry exactly the range asked
// for; the attempt failed and is retried.
var ErrContentRange = errors.New("Content-Range is not the range asked for")

// Span is a run of whole blocks of a piece: blocks First to Last, both
// included, of Piece cut into blocks of BlockSize bytes.
type Span struct {
	Piece       meta.Piece
	BlockSize   int64
	First, Last int
}

// Bytes returns the offset and length in the piece of the span's bytes.
func (s Span) Bytes() (off, n int64) {
	off, _ = meta.BlockSpan(s.Piece.Size, s.BlockSize, s.First)
	lastOff, lastLen := meta.BlockSpan(s.Piece.Size, s.BlockSize, s.Last)
	return off, lastOff + lastLen - off
}

func (s Span) valid() error {
	n := meta.NumBlocks(s.Piece.Size, s.BlockSize)
	if s.BlockSize <= 0 || s.Piece.Size <= 0 || s.Piece.Size > meta.MaxPieceSize || s.First < 0 || s.First > s.Last || s.Last >= n {
		return fmt.Errorf("blocks [%d, %d] of a piece of %d bytes in blocks of %d", s.First, s.Last, s.Piece.Size, s.BlockSize)
	}
	return nil
}

// Range returns the bytes of span s, every block of them verified against
// its hash in bs (the piece's verified block table, from Blocks), fetched
// with one HTTP Range request. A server that ignores Range and sends the
// whole piece (200) is served too: all of it is verified block by block and
// the span's bytes are returned. A 206 whose Content-Range is not exactly
// the span is a failed attempt, as is a block that does not match its hash.
//
// Concurrent calls for the same span share one request, which runs on the
// fetcher's lifetime as Piece's do. The returned slice is shared between
// those callers and must not be modified.
func (f *Fetcher) Range(ctx context.Context, s Span, bs meta.Blocks) ([]byte, error) {
	if err := s.valid(); err != nil {
		return nil, fmt.Errorf("fetch range of piece %s: %w", s.Piece.Digest, err)
	}
	if len(bs) != meta.NumBlocks(s.Piece.Size, s.BlockSize) {
		return nil, fmt.Errorf("fetch range of piece %s: a table of %d hashes for %d blocks", s.Piece.Digest, len(bs), meta.NumBlocks(s.Piece.Size, s.BlockSize))
	}
	off, n := s.Bytes()
	key := fmt.Sprintf("range/%s/%d/%d-%d", s.Piece.Digest.Hex(), s.BlockSize, s.First, s.Last)
	ch := f.flights.DoChan(key, func() (any, error) {
		return run(f.life, f, fmt.Sprintf("piece %s bytes %d-%d", s.Piece.Digest, off, off+n-1), func(ctx context.Context) ([]byte, error) {
			return f.getRange(ctx, s, bs)
		})
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, fmt.Errorf("fetch piece %s bytes %d-%d: %w", s.Piece.Digest, off, off+n-1, r.Err)
		}
		return r.Val.([]byte), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("fetch piece %s bytes %d-%d: %w", s.Piece.Digest, off, off+n-1, ctx.Err())
	}
}

func (f *Fetcher) getRange(ctx context.Context, s Span, bs meta.Blocks) ([]byte, error) {
	off, n := s.Bytes()
	resp, err := f.send(ctx, f.url(meta.PiecePath(s.Piece.Digest)), fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if err := checkContentRange(resp, off, n, s.Piece.Size); err != nil {
			return nil, err
		}
		return readBlocks(resp.Body, s, bs)
	default: // 200: the whole piece
		if resp.ContentLength >= 0 && resp.ContentLength != s.Piece.Size {
			return nil, fmt.Errorf("%w: %d bytes, want the piece's %d", ErrLength, resp.ContentLength, s.Piece.Size)
		}
		whole := Span{Piece: s.Piece, BlockSize: s.BlockSize, First: 0, Last: len(bs) - 1}
		b, err := readBlocks(resp.Body, whole, bs)
		if err != nil {
			return nil, err
		}
		return b[off : off+n : off+n], nil
	}
}

// checkContentRange accepts a 206 only if it carries exactly bytes
// [off, off+n) of a piece of size bytes, in one part.
func checkContentRange(resp *http.Response, off, n, size int64) error {
	want := "bytes " + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+n-1, 10) + "/" + strconv.FormatInt(size, 10)
	if got := resp.Header.Get("Content-Range"); got != want {
		return fmt.Errorf("%w: got %q, want %q", ErrContentRange, got, want)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != n {
		return fmt.Errorf("%w: %d bytes, want %d", ErrLength, resp.ContentLength, n)
	}
	return nil
}

// readBlocks reads the blocks of span s from r, which must hold exactly
// them, verifying each against bs as it arrives, and returns their bytes.
func readBlocks(r io.Reader, s Span, bs meta.Blocks) ([]byte, error) {
	off, n := s.Bytes()
	buf := make([]byte, n)
	for k := s.First; k <= s.Last; k++ {
		boff, blen := meta.BlockSpan(s.Piece.Size, s.BlockSize, k)
		block := buf[boff-off : boff-off+blen]
		if got, err := io.ReadFull(r, block); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: block %d: got %d of %d bytes", ErrShortBody, k, got, blen)
			}
			return nil, err
		}
		if meta.Digest(sha256.Sum256(block)) != bs[k] {
			return nil, fmt.Errorf("%w: block %d of piece %s", ErrCorrupt, k, s.Piece.Digest)
		}
	}
	if err := expectEOF(r, n); err != nil {
		return nil, err
	}
	return buf, nil
}
