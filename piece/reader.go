package piece

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/piecefs/piecefs/meta"
)

// Key names what the memory tier holds: a whole piece (Unit is Whole) or
// one unit of it (see "Units").
type Key struct {
	Digest meta.Digest
	Unit   int
}

// Whole is the Unit of a Key for a whole piece.
const Whole = -1

// Memory is the memory tier; *cache.Cache[Key] satisfies it.
type Memory interface {
	Get(k Key) ([]byte, bool)
	Add(k Key, b []byte)
}

// Disk is the tier of verified pieces and blocks on disk; *store.Store
// satisfies it. Has reports a complete piece; Load returns a whole one, for
// the memory tier; ReadAt reads part of a piece, complete or not; Present
// reports, without I/O, whether ReadAt would find every block of a range.
// All take the piece as the manifest names it, digest and size, and treat a
// stored piece of another size as missing.
type Disk interface {
	Has(d meta.Digest) bool
	Load(p meta.Piece) ([]byte, error)
	ReadAt(p meta.Piece, b []byte, off int64) (int, error)
	Present(p meta.Piece, off, n int64) bool
}

// Network fetches verified bytes: Piece a whole piece, Range bytes
// [off, off+n) of a piece whose blocks of blockSize bytes have hashes (a
// version 2 manifest's), which must begin and end on block boundaries (or
// the piece's end). *fetch.Fetcher satisfies it.
type Network interface {
	Piece(ctx context.Context, p meta.Piece) ([]byte, error)
	Range(ctx context.Context, p meta.Piece, blockSize, off, n int64) ([]byte, error)
}

// Options are the tiers a Reader chains, and its readahead.
type Options struct {
	Memory  Memory // nil turns the memory tier off
	Disk    Disk
	Network Network
	// Readahead is how many bytes of pieces to fetch ahead of a sequential
	// reader, at most; 0 turns readahead off. Prefetched pieces land in the
	// memory tier, so it should be well below the memory tier's size.
	Readahead int64
	// Record, if set, notes the ranges of files that reads ask for (see
	// "Recording").
	Record *Recorder
	Log    logrus.FieldLogger // nil discards
}

// Reader reads the files of one manifest through the tiers. It is safe for
// concurrent use.
type Reader struct {
	m    *meta.Manifest
	mem  Memory
	disk Disk
	net  Network
	ra   *readahead // nil when off
	rec  *Recorder  // nil when not recording
	log  logrus.FieldLogger
	// unit is what a read fetches and the memory tier keeps of a piece of
	// a version 2 manifest: whole blocks of the manifest and of the disk
	// tier at once. It is the piece size for version 1.
	unit     int64
	perPiece int // units per piece, at most

	reading atomic.Int64 // ReadAt calls in progress, for Drain
	stats   counters     // see Stats
	marks   *marks       // memory entries readahead added, not read yet; nil without readahead or memory
}

// New returns a Reader over the manifest m. Close stops its prefetches.
func New(m *meta.Manifest, o Options) *Reader {
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	r := &Reader{m: m, mem: o.Memory, disk: o.Disk, net: o.Network, rec: o.Record, log: o.Log, unit: unitOf(m)}
	r.perPiece = meta.NumBlocks(m.PieceSize, r.unit)
	if window := int(o.Readahead / r.unit); window > 0 {
		r.ra = newReadahead(window, r.perPiece, int(lagBytes/r.unit), r.prefetch)
		if r.mem != nil {
			r.marks = newMarks(window)
		}
	}
	return r
}

// Close stops the prefetches in flight and waits for them; reads still
// work, without readahead.
func (r *Reader) Close() { r.ra.stop() }

// Drain waits until no ReadAt is in progress, or ctx ends. A forced
// shutdown cancels the fetches first and drains, so that every read in
// flight is answered (with EIO) before the process exits; otherwise the
// kernel aborts them with ECONNABORTED.
func (r *Reader) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for r.reading.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// ReadAt reads len(p) bytes of file e starting at off. It returns fewer
// only at the end of the file (with io.EOF) or with an error.
func (r *Reader) ReadAt(ctx context.Context, e *meta.Entry, p []byte, off int64) (int, error) {
	r.reading.Add(1)
	defer r.reading.Add(-1)
	r.rec.note(e, off, int64(len(p)))
	var buf [8]meta.Slice // most reads touch one or two pieces: no allocation
	slices := r.m.AppendSlices(buf[:0], e, off, int64(len(p)))
	sequential := false
	if len(slices) > 0 {
		first, last := slices[0], slices[len(slices)-1]
		sequential = r.ra.observe(r.pos(first.Index, first.Offset), r.pos(last.Index, last.Offset+last.Length-1),
			len(r.m.Pieces)*r.perPiece, off == 0)
	}
	n := 0
	for _, s := range slices {
		if s.Length > int64(len(p)-n) {
			return n, fmt.Errorf("read %s at %d: the manifest's extents hold more than was asked for", e.Path, off)
		}
		if err := r.readSlice(ctx, s, p[n:n+int(s.Length)], sequential); err != nil {
			return n, err
		}
		n += int(s.Length)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ErrPieceSize is wrapped by the error of a read whose piece no tier holds at
// the size the manifest gives.
var ErrPieceSize = errors.New("piece bytes are not the size the manifest gives")

// readSlice fills dst, which is s.Length bytes, with s's bytes from the
// fastest tier that has the piece. Every tier's bytes are checked against
// the size the manifest gives (see "Sizes"): bytes of another size are a
// miss, never served.
func (r *Reader) readSlice(ctx context.Context, s meta.Slice, dst []byte, sequential bool) error {
	d := s.Piece.Digest
	if s.Offset < 0 || s.Length != int64(len(dst)) || s.Offset > s.Piece.Size-s.Length {
		return fmt.Errorf("read piece %s: range [%d, +%d) outside its %d bytes", d, s.Offset, s.Length, s.Piece.Size)
	}
	if r.mem != nil {
		if b, ok := r.mem.Get(Key{d, Whole}); ok && serve(dst, b, s) {
			r.served(TierMemory, len(dst), r.marks.take(Key{d, Whole}))
			return nil
		}
		// Units fetched (or prefetched) a moment ago are in memory even
		// once their piece is complete on disk: no disk read for them.
		if r.m.HasBlocks() && r.unitsInMemory(s, dst) {
			r.served(TierMemory, len(dst), r.takeUnits(s))
			return nil
		}
	}
	if r.disk.Has(d) {
		err := r.readDisk(s, dst, sequential)
		if err == nil {
			r.served(TierDisk, len(dst), false)
			return nil
		}
		// Damaged (the store dropped it and said why) or of another size:
		// fetch it again, as the manifest names it.
		r.log.WithError(err).WithField("piece", d).Debug("disk piece unusable; fetching it")
	}
	if r.m.HasBlocks() {
		return r.readUnits(ctx, s, dst)
	}
	b, err := r.net.Piece(ctx, s.Piece)
	if err != nil {
		return fmt.Errorf("read piece %s: %w", d, err)
	}
	if !serve(dst, b, s) {
		return fmt.Errorf("read piece %s: the network tier returned %d bytes, the manifest says %d: %w", d, len(b), s.Piece.Size, ErrPieceSize)
	}
	if r.mem != nil {
		r.mem.Add(Key{d, Whole}, b)
	}
	r.served(TierNetwork, len(dst), false)
	return nil
}

// serve copies s's range of the whole piece b into dst, if b is exactly the
// size the manifest gives for the piece, and reports whether it did.
func serve(dst, b []byte, s meta.Slice) bool {
	if int64(len(b)) != s.Piece.Size {
		return false
	}
	copy(dst, b[s.Offset:s.Offset+s.Length])
	return true
}

// readDisk serves s from disk. A sequential reader will read the rest of the
// piece soon, so with a memory tier the whole piece is loaded into it once;
// a random read reads just its range, so that it costs a 4 KiB read and not
// a 4 MiB one.
func (r *Reader) readDisk(s meta.Slice, dst []byte, sequential bool) error {
	if r.mem != nil && sequential {
		b, err := r.disk.Load(s.Piece)
		if err != nil {
			return err
		}
		if !serve(dst, b, s) {
			return fmt.Errorf("disk tier returned %d bytes, the manifest says %d: %w", len(b), s.Piece.Size, ErrPieceSize)
		}
		r.mem.Add(Key{s.Piece.Digest, Whole}, b)
		return nil
	}
	n, err := r.disk.ReadAt(s.Piece, dst, s.Offset)
	if err == nil && n < len(dst) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
