package piece

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/piecefs/piecefs/meta"
)

// Memory is the memory tier; *cache.Cache satisfies it.
type Memory interface {
	Get(d meta.Digest) ([]byte, bool)
	Add(d meta.Digest, b []byte)
}

// Disk is the tier of complete, verified pieces on disk; *store.Store
// satisfies it. Load returns a whole piece, for the memory tier; ReadAt
// reads part of one.
type Disk interface {
	Has(d meta.Digest) bool
	Load(d meta.Digest) ([]byte, error)
	ReadAt(d meta.Digest, p []byte, off int64) (int, error)
}

// Network fetches a piece and returns its verified bytes; *fetch.Fetcher
// satisfies it.
type Network interface {
	Piece(ctx context.Context, p meta.Piece) ([]byte, error)
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
	Log       logrus.FieldLogger // nil discards
}

// Reader reads the files of one manifest through the tiers. It is safe for
// concurrent use.
type Reader struct {
	m    *meta.Manifest
	mem  Memory
	disk Disk
	net  Network
	ra   *readahead // nil when off
	log  logrus.FieldLogger

	reading atomic.Int64 // ReadAt calls in progress, for Drain
}

// New returns a Reader over the manifest m. Close stops its prefetches.
func New(m *meta.Manifest, o Options) *Reader {
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	r := &Reader{m: m, mem: o.Memory, disk: o.Disk, net: o.Network, log: o.Log}
	if window := int(o.Readahead / m.PieceSize); window > 0 {
		r.ra = newReadahead(window, r.prefetch)
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
	var buf [8]meta.Slice // most reads touch one or two pieces: no allocation
	slices := r.m.AppendSlices(buf[:0], e, off, int64(len(p)))
	sequential := false
	if len(slices) > 0 {
		sequential = r.ra.observe(slices[0].Index, slices[len(slices)-1].Index, len(r.m.Pieces), off == 0)
	}
	n := 0
	for _, s := range slices {
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

func (r *Reader) readSlice(ctx context.Context, s meta.Slice, dst []byte, sequential bool) error {
	d := s.Piece.Digest
	if r.mem != nil {
		if b, ok := r.mem.Get(d); ok {
			copy(dst, b[s.Offset:])
			return nil
		}
	}
	if r.disk.Has(d) {
		err := r.readDisk(s, dst, sequential)
		if err == nil {
			return nil
		}
		// The store has dropped the piece and said why; fetch it again.
		r.log.WithError(err).WithField("piece", d).Debug("disk piece unusable; fetching it again")
	}
	b, err := r.net.Piece(ctx, s.Piece)
	if err != nil {
		return fmt.Errorf("read piece %s: %w", d, err)
	}
	if r.mem != nil {
		r.mem.Add(d, b)
	}
	copy(dst, b[s.Offset:])
	return nil
}

// readDisk serves s from disk. A sequential reader will read the rest of the
// piece soon, so with a memory tier the whole piece is loaded into it once;
// a random read reads just its range, so that it costs a 4 KiB read and not
// a 4 MiB one.
func (r *Reader) readDisk(s meta.Slice, dst []byte, sequential bool) error {
	if r.mem != nil && sequential {
		b, err := r.disk.Load(s.Piece.Digest)
		if err != nil {
			return err
		}
		r.mem.Add(s.Piece.Digest, b)
		copy(dst, b[s.Offset:])
		return nil
	}
	n, err := r.disk.ReadAt(s.Piece.Digest, dst, s.Offset)
	if err == nil && n < len(dst) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
