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

// Range returns bytes [off, off+n) of piece p, every block of them
// verified against its hash in p's block table (see Blocks), cut into
// blocks of blockSize bytes as a version 2 manifest says. The range must
// begin at a block boundary and end at one or at the piece's end.
//
// Blocks that a request in flight is already fetching are taken from it;
// the others are fetched with one HTTP Range request per run of adjacent
// blocks (see getRange), which runs on the fetcher's lifetime as Piece's
// downloads do, and are handed to the Sink as they are verified. If ctx
// ends first, Range returns ctx's error and the requests go on for the
// others. The returned slice may be shared with other callers and must
// not be modified.
func (f *Fetcher) Range(ctx context.Context, p meta.Piece, blockSize, off, n int64) ([]byte, error) {
	s, err := spanOf(p, blockSize, off, n)
	if err != nil {
		return nil, fmt.Errorf("fetch range of piece %s: %w", p.Digest, err)
	}
	b, err := f.fetchSpan(ctx, s, f.table(p, blockSize))
	if err != nil {
		return nil, fmt.Errorf("fetch piece %s bytes %d-%d: %w", p.Digest, off, off+n-1, err)
	}
	return b, nil
}

// spanOf returns the blocks that [off, off+n) of p covers exactly.
func spanOf(p meta.Piece, blockSize, off, n int64) (Span, error) {
	if blockSize <= 0 || off < 0 || n <= 0 || off > p.Size-n || off%blockSize != 0 || (off+n)%blockSize != 0 && off+n != p.Size {
		return Span{}, fmt.Errorf("bytes [%d, +%d) are not whole blocks of %d of a piece of %d bytes", off, n, blockSize, p.Size)
	}
	first, last := meta.BlocksOf(off, n, blockSize)
	s := Span{Piece: p, BlockSize: blockSize, First: first, Last: last}
	return s, s.valid()
}

// fetchSpan returns the verified bytes of span s, joining the flights that
// cover some of its blocks and starting flights for the rest.
//
// A joined flight that failed may have failed on a block outside s (a
// prefetch of a wider span meeting a corrupt block): then s's blocks are
// asked for once more on their own, so that a bad block fails only the
// reads that need it.
func (f *Fetcher) fetchSpan(ctx context.Context, s Span, table *table) ([]byte, error) {
	for again := true; ; again = false {
		parts, started := f.ranges.claim(s)
		for _, fl := range started {
			f.start(fl, table)
		}
		failed, err := wait(ctx, parts)
		switch {
		case err == nil:
			return assemble(s, parts), nil
		case failed == nil || !again || within(failed.span, s) || errors.Is(err, errTable):
			return nil, err
		}
	}
}

// within reports whether span a lies inside span b.
func within(a, b Span) bool { return a.First >= b.First && a.Last <= b.Last }

// wait waits for the flights parts and returns the first that failed, with
// its error, or ctx's error.
func wait(ctx context.Context, parts []*rangeFlight) (*rangeFlight, error) {
	for _, fl := range parts {
		select {
		case <-fl.done:
			if fl.err != nil {
				return fl, fl.err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, nil
}

// assemble returns the bytes of s from the flights that cover it, in
// order: the flight's own slice when one flight covers exactly s.
func assemble(s Span, parts []*rangeFlight) []byte {
	if len(parts) == 1 && parts[0].span.First == s.First && parts[0].span.Last == s.Last {
		return parts[0].data
	}
	off, n := s.Bytes()
	out := make([]byte, 0, n)
	for _, fl := range parts {
		flOff, flN := fl.span.Bytes()
		lo, hi := max(off, flOff), min(off+n, flOff+flN)
		out = append(out, fl.data[lo-flOff:hi-flOff]...)
	}
	return out
}

// start runs the flight fl in the background: the request, with retries,
// then the commit of what it wrote to the Sink. Close waits for it, and
// cancels its request.
func (f *Fetcher) start(fl *rangeFlight, table *table) {
	if err := f.begin(); err != nil {
		f.ranges.finish(fl, nil, err)
		f.ranges.remove(fl)
		return
	}
	go func() {
		defer f.wg.Done()
		w := f.create(fl.span.Piece)
		off, n := fl.span.Bytes()
		what := fmt.Sprintf("piece %s bytes %d-%d", fl.span.Piece.Digest, off, off+n-1)
		data, err := run(f.life, f, kindRange, what, func(ctx context.Context, src *source) ([]byte, error) {
			return f.getRange(ctx, src, fl.span, table, w)
		})
		f.land(fl, w, data, err)
		f.ranges.remove(fl)
	}()
}

// land answers fl's callers and commits or aborts what w took. Commits
// share the room of whole pieces' writes (maxPersisting bytes): with room,
// the callers are answered first and the commit follows; without, the disk
// is behind the network, and the flight commits before it answers, so that
// reads slow down instead of written, uncommitted blocks (uncounted by the
// disk bound) and their bytes in memory piling up.
func (f *Fetcher) land(fl *rangeFlight, w *sinkWriter, data []byte, err error) {
	if w == nil || err != nil {
		f.ranges.finish(fl, data, err)
		f.settle(w, fl.span.Piece, err)
		return
	}
	n := weight(int64(len(data)))
	if f.pending.room.TryAcquire(n) {
		f.ranges.finish(fl, data, nil)
		f.settle(w, fl.span.Piece, nil)
	} else {
		f.pending.acquire(n)
		f.settle(w, fl.span.Piece, nil)
		f.ranges.finish(fl, data, nil)
	}
	f.pending.room.Release(n)
}

// create opens a Sink writer for p beside the request, or returns nil if
// there is no Sink. Opening one may touch the disk (a new partial file, a
// directory made and synced), which a read should not wait for before its
// request even goes out: the writer is opened on its own goroutine, and
// the first write waits for it.
func (f *Fetcher) create(p meta.Piece) *sinkWriter {
	if f.opts.Sink == nil {
		return nil
	}
	s := &sinkWriter{opened: make(chan struct{})}
	go func() {
		defer close(s.opened)
		s.w, s.err = f.opts.Sink.Create(p)
		if s.err != nil {
			f.sinkFailed(p, s.err)
			s.failed = true
		}
	}()
	return s
}

// settle commits what w took if the fetch succeeded, and aborts it
// otherwise. A flight that was done when Close began still commits: its
// blocks are written already, and Close waits for the commit.
func (f *Fetcher) settle(w *sinkWriter, p meta.Piece, fetchErr error) {
	if w == nil {
		return
	}
	<-w.opened
	if w.failed {
		return // Create failed, and said so
	}
	if fetchErr == nil {
		w.writeAt(w.rest, w.restOff)
	}
	var err error
	if fetchErr != nil || w.err != nil {
		err = errors.Join(w.err, w.w.Abort())
	} else {
		err = w.w.Commit()
	}
	if err != nil {
		f.sinkFailed(p, err)
	}
}

// sinkWriter is a Sink's Writer, opened in the background (see create),
// that stops taking bytes after its first failure, which settle reports.
type sinkWriter struct {
	opened  chan struct{} // closed once w (or err) is set
	w       Writer
	err     error
	failed  bool   // Create failed: there is no w
	rest    []byte // verified bytes still to write, at restOff (see later)
	restOff int64
}

func (s *sinkWriter) writeAt(b []byte, off int64) {
	if s == nil {
		return
	}
	<-s.opened
	if s.err != nil || len(b) == 0 {
		return
	}
	_, s.err = s.w.WriteAt(b, off)
}

// isOpen reports whether the writer is open, without waiting for it.
func (s *sinkWriter) isOpen() bool {
	if s == nil {
		return false
	}
	select {
	case <-s.opened:
		return true
	default:
		return false
	}
}

// later keeps verified bytes b, at offset off, to be written by settle,
// after the callers have their bytes: a read does not wait for a write, or
// for the writer's opening, that its answer does not need.
func (s *sinkWriter) later(b []byte, off int64) {
	if s != nil {
		s.rest, s.restOff = b, off
	}
}

// getRange fetches span s with one Range request (a plain GET when s is
// the whole piece) and returns its bytes, verified against the block table
// and handed to w (see readBlocks). A server that ignores Range and sends
// the whole piece (200) is served too: all of it is verified block by
// block (and handed to w), and the span's bytes are returned. A 206 whose Content-Range is not exactly the span is a
// failed attempt, as is a block that does not match its hash.
func (f *Fetcher) getRange(ctx context.Context, src *source, s Span, table *table, w *sinkWriter) ([]byte, error) {
	off, n := s.Bytes()
	// The whole piece is asked for without Range: a plain GET, which any
	// cache on the way keeps and serves as it is.
	byteRange := ""
	if n < s.Piece.Size {
		byteRange = fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	}
	resp, err := f.send(ctx, src, meta.PiecePath(s.Piece.Digest), byteRange, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// The block table is fetched beside the range (see table): the body
	// waits in the connection's buffers until the hashes are here.
	bs, err := table.wait(ctx)
	if err != nil {
		return nil, err
	}
	if len(bs) != meta.NumBlocks(s.Piece.Size, s.BlockSize) {
		return nil, &permanentError{fmt.Errorf("%w: %d hashes for %d blocks", errTable, len(bs), meta.NumBlocks(s.Piece.Size, s.BlockSize))}
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if err := checkContentRange(resp, off, n, s.Piece.Size); err != nil {
			return nil, err
		}
		return f.checked(readBlocks(resp.Body, s, bs, w))
	default: // 200: the whole piece
		if resp.ContentLength >= 0 && resp.ContentLength != s.Piece.Size {
			return nil, fmt.Errorf("%w: %d bytes, want the piece's %d", ErrLength, resp.ContentLength, s.Piece.Size)
		}
		whole := Span{Piece: s.Piece, BlockSize: s.BlockSize, First: 0, Last: len(bs) - 1}
		b, err := f.checked(readBlocks(resp.Body, whole, bs, w))
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

// writeChunk is how many verified bytes readBlocks gathers before it
// writes them: one pwrite per 64 KiB block cost a cold 512 MiB read 64
// system calls per 4 MiB piece.
const writeChunk = 1 << 20

// readBlocks reads the blocks of span s from r, which must hold exactly
// them, verifying each against bs as it arrives, and returns their bytes.
// Verified bytes go to w (which may be nil) in whole store blocks
// (meta.DefaultBlockSize, the Sink's unit): a writeChunk at a time while
// the rest arrives, if w is open by then, and what is left after the
// callers are answered (see sinkWriter.later); a span that does not begin
// on a store block's boundary writes from the first one it reaches.
func readBlocks(r io.Reader, s Span, bs meta.Blocks, w *sinkWriter) ([]byte, error) {
	off, n := s.Bytes()
	buf := make([]byte, n)
	written := (off + meta.DefaultBlockSize - 1) / meta.DefaultBlockSize * meta.DefaultBlockSize
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
		if end := boff + blen; end-written >= writeChunk && (end%meta.DefaultBlockSize == 0 || end == s.Piece.Size) && w.isOpen() {
			w.writeAt(buf[written-off:end-off], written)
			written = end
		}
	}
	if err := expectEOF(r, n); err != nil {
		return nil, err
	}
	end := off + n
	if end != s.Piece.Size {
		end -= end % meta.DefaultBlockSize
	}
	w.later(buf[max(written-off, 0):max(end-off, written-off)], written)
	return buf, nil
}
