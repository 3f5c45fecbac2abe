package publish

import (
	"context"
	"errors"
	"fmt"

	"github.com/piecefs/piecefs/meta"
)

// Sink receives the pieces a build produces, in order, and the block table
// of each piece of more than one block, before the piece. A sink may be
// asked for the same digest more than once and should store it once. data
// and table are only valid during the call: the builder reuses its buffers.
type Sink interface {
	PutPiece(d meta.Digest, data []byte) error
	PutBlocks(d meta.Digest, table []byte) error
}

// Options tunes Build.
type Options struct {
	PieceSize int64 // default meta.DefaultPieceSize
	// Warn is told about entries that are left out (sockets); nil ignores.
	Warn func(path string, reason string)
	// Image, if not nil, is recorded as the manifest's Image: the process
	// settings of the OCI image a Source was imported from.
	Image *meta.Image
	// Prefetch, if not nil, is published with the manifest (Manifest.Prefetch)
	// once resolved against the tree built: see attachPrefetch.
	Prefetch *meta.PrefetchList
}

// Validate reports whether o can be used, so a caller can refuse bad
// options before it creates an output; Build calls it too.
func (o Options) Validate() error {
	ps := o.pieceSize()
	if ps < meta.MinPieceSize || ps > meta.MaxPieceSize {
		return fmt.Errorf("publish: piece size %d outside [%d, %d]", ps, meta.MinPieceSize, int64(meta.MaxPieceSize))
	}
	return nil
}

func (o Options) pieceSize() int64 {
	if o.PieceSize == 0 {
		return meta.DefaultPieceSize
	}
	return o.PieceSize
}

func (o Options) warn(p, why string) {
	if o.Warn != nil {
		o.Warn(p, why)
	}
}

// errChanged reports an entry that changed while it was read: its manifest
// entry would describe bytes or a file that never existed together.
var errChanged = errors.New("changed while publishing")

// Build walks the directory root and returns the manifest of the tree,
// handing every piece to sink. doc.go states what it reads, how it packs
// pieces and what it refuses.
func Build(ctx context.Context, root string, sink Sink, opts Options) (*meta.Manifest, error) {
	return BuildFrom(ctx, dirSource{root: root, opts: opts}, sink, opts)
}

// BuildFrom packs the entries of src into pieces, handing every piece to
// sink, and returns the manifest, validated. It packs as Build does (see
// doc.go); the packing order is the order src gives its files in.
func BuildFrom(ctx context.Context, src Source, sink Sink, opts Options) (*meta.Manifest, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	p := newPacker(sink, opts.pieceSize())
	p.m.Image = opts.Image
	if err := src.Entries(ctx, p.add); err != nil {
		return nil, err
	}
	m, err := p.finish()
	if err != nil || opts.Prefetch == nil {
		return m, err
	}
	return m, attachPrefetch(m, opts.Prefetch, sink, opts)
}
