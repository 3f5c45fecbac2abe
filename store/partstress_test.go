package store

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// TestPartsConcurrent runs Parts that write, commit and abort random
// blocks of a few pieces, readers of random ranges, and Puts, all at once
// under a disk bound that keeps evicting: every byte served is right, and
// the store is consistent after, and after reopening.
func TestPartsConcurrent(t *testing.T) {
	var datas [][]byte
	var ps []meta.Piece
	for i := range 4 {
		data, p := partData(80+i, 6)
		if i%2 == 1 {
			p = withTable(p, data)
		}
		datas, ps = append(datas, data), append(ps, p)
	}
	dir := t.TempDir()
	limit := int64(14 * bs)
	s := openT(t, dir, Options{MaxBytes: limit})
	var wg sync.WaitGroup
	for g := range 6 {
		r := rand.New(rand.NewPCG(uint64(g), 1))
		wg.Go(func() {
			for range 15 {
				i := r.IntN(len(ps))
				writeRandomly(t, s, ps[i], datas[i], r)
			}
		})
	}
	for g := range 4 {
		r := rand.New(rand.NewPCG(uint64(g), 2))
		wg.Go(func() {
			for range 300 {
				i := r.IntN(len(ps))
				readRandomRange(t, s, ps[i], datas[i], r)
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			if err := s.Put(meta.Sum(content(90+i, bs)), content(90+i, bs)); err != nil && !errors.Is(err, ErrFull) {
				t.Errorf("Put: %v", err)
			}
		}
	})
	wg.Wait()
	checkConsistent(t, s)
	checkPartialBound(t, s, limit+6*bs, "the run") // one piece over at most
	must(t, s.Close())
	s = openT(t, dir, Options{MaxBytes: limit})
	checkConsistent(t, s)
	for i, p := range ps {
		servedBlocks(t, s, p, datas[i])
	}
}

// writeRandomly writes random blocks of p through a Part and commits or
// aborts it.
func writeRandomly(t *testing.T, s *Store, p meta.Piece, data []byte, r *rand.Rand) {
	w, err := s.CreatePart(p)
	if err != nil {
		t.Errorf("CreatePart: %v", err)
		return
	}
	n := meta.NumBlocks(p.Size, bs)
	for range 1 + r.IntN(n) {
		off, b := block(data, r.IntN(n))
		if _, err := w.WriteAt(b, off); err != nil {
			t.Errorf("WriteAt: %v", err)
		}
	}
	if r.IntN(4) == 0 {
		must(t, w.Abort())
		return
	}
	if err := w.Commit(); err != nil && !errors.Is(err, ErrFull) {
		t.Errorf("Commit: %v", err)
	}
}

// readRandomRange reads a random range of p; whatever is served must be
// p's bytes, and anything else a miss.
func readRandomRange(t *testing.T, s *Store, p meta.Piece, data []byte, r *rand.Rand) {
	off := r.Int64N(p.Size)
	b := make([]byte, 1+r.IntN(2*bs))
	n, err := s.ReadAt(p, b, off)
	switch {
	case err == nil || errors.Is(err, io.EOF):
		if !bytes.Equal(b[:n], data[off:off+int64(n)]) {
			t.Errorf("ReadAt(%d, %d) served other bytes", off, len(b))
		}
	case !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrCorrupt):
		t.Errorf("ReadAt(%d, %d) = %v, want the bytes or a clean miss", off, len(b), err)
	}
}
