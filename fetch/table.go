package fetch

import (
	"context"
	"errors"
	"fmt"

	"github.com/piecefs/piecefs/meta"
)

// errTable marks a ranged fetch that failed for want of its block table:
// asking again for fewer blocks would not help.
var errTable = errors.New("block table")

// table is a piece's block table on its way: a ranged fetch of a piece
// whose table is not known yet sends its request at once, beside the
// table's, rather than one after the other, so that the first read of a
// piece costs one round trip and not two. The range's bytes are verified
// once the table has arrived (and been verified itself).
type table struct {
	done chan struct{} // closed once bs or err is set
	bs   meta.Blocks
	err  error
}

// table returns the block table of p in blocks of blockSize, at once if
// it is kept, else fetched in the background on the fetcher's lifetime
// (Blocks shares one request among all who ask).
func (f *Fetcher) table(p meta.Piece, blockSize int64) *table {
	t := &table{done: make(chan struct{})}
	if p.Size <= blockSize {
		t.bs = meta.Blocks{p.Digest}
		close(t.done)
		return t
	}
	if bs, ok := f.tables.get(p.Blocks); ok && len(bs) == meta.NumBlocks(p.Size, blockSize) {
		t.bs = bs
		close(t.done)
		return t
	}
	go func() {
		defer close(t.done)
		t.bs, t.err = f.Blocks(f.life, p, blockSize)
	}()
	return t
}

// wait returns the table once it is here, or ctx's error.
func (t *table) wait(ctx context.Context) (meta.Blocks, error) {
	select {
	case <-t.done:
		if t.err != nil {
			// Its own fetch retried already: another attempt of the
			// range would meet the same outcome.
			return nil, &permanentError{fmt.Errorf("%w: %w", errTable, t.err)}
		}
		return t.bs, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
