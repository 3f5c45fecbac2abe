package fetch

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/piecefs/piecefs/meta"
)

// maxTables bounds the block tables a Fetcher keeps: at 64 hashes a 4 MiB
// piece that is 8 MiB for 16 GiB of pieces read at random.
const maxTables = 4096

// tables keeps verified block tables, least recently used first out.
type tables struct {
	mu  sync.Mutex // guards lru
	lru *simplelru.LRU[meta.Digest, meta.Blocks]
}

func newTables() *tables {
	lru, err := simplelru.NewLRU[meta.Digest, meta.Blocks](maxTables, nil)
	if err != nil {
		panic(err) // maxTables > 0
	}
	return &tables{lru: lru}
}

func (t *tables) get(d meta.Digest) (meta.Blocks, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Get(d)
}

func (t *tables) add(d meta.Digest, bs meta.Blocks) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lru.Add(d, bs)
}

// Blocks returns the verified hashes of the blocks of piece p, cut into
// blocks of blockSize bytes as a version 2 manifest says: for a piece of one
// block its own digest, else its block table, fetched once from
// blocks/ab/<hex> (concurrent callers share the request), checked against
// p.Blocks and kept.
func (f *Fetcher) Blocks(ctx context.Context, p meta.Piece, blockSize int64) (meta.Blocks, error) {
	if p.Size <= blockSize {
		return meta.Blocks{p.Digest}, nil
	}
	if bs, ok := f.tables.get(p.Blocks); ok && len(bs) == meta.NumBlocks(p.Size, blockSize) {
		return bs, nil
	}
	n := meta.NumBlocks(p.Size, blockSize)
	key := "blocks/" + p.Blocks.Hex()
	ch := f.flights.DoChan(key, func() (any, error) {
		return run(f.life, f, kindTable, "block table "+p.Blocks.String(), func(ctx context.Context, src *source) ([]byte, error) {
			return f.getExact(ctx, src, meta.BlocksPath(p.Blocks), int64(n*sha256.Size), p.Blocks)
		})
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, fmt.Errorf("fetch block table of piece %s: %w", p.Digest, r.Err)
		}
		bs, err := meta.ParseBlockTable(r.Val.([]byte), p, blockSize)
		if err != nil {
			return nil, err
		}
		f.tables.add(p.Blocks, bs)
		return bs, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("fetch block table of piece %s: %w", p.Digest, ctx.Err())
	}
}

// getExact GETs rel, which must hold exactly size bytes hashing to d.
func (f *Fetcher) getExact(ctx context.Context, src *source, rel string, size int64, d meta.Digest) ([]byte, error) {
	resp, err := f.get(ctx, src, rel)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength >= 0 && resp.ContentLength != size {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrLength, resp.ContentLength, size)
	}
	return f.checked(readExact(resp.Body, size, d))
}
