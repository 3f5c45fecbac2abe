package store

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// ErrFull is wrapped by the error of a commit (and Put) refused by the disk
// bound: the pieces that would have to be evicted are all being read, and
// they fill the bound already. The caller serves the bytes it has; the
// piece can be stored once the reads are done.
var ErrFull = errors.New("cache is at its size bound with pieces in use")

// reserve makes room under the disk bound for a commit of size bytes,
// evicting least recently used pieces, and reserves it. The caller must
// either record the piece (index.commit) or unreserve.
//
// Reservations are serialised until their victims' files are gone: the
// index frees a victim's bytes at once, and without this a concurrent
// commit could rename its file into place while the victim's file still
// takes the room, and the directory would hold more than the bound.
func (s *Store) reserve(size int64) error {
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	s.mu.Lock()
	victims, ok := s.index.reserve(size, s.opts.MaxBytes)
	s.mu.Unlock()
	err := s.evict(victims, s.db.Batch)
	if err == nil && !ok {
		err = fmt.Errorf("no room for %d bytes under a bound of %d: %w", size, s.opts.MaxBytes, ErrFull)
	}
	if err != nil && ok {
		s.unreserve(size)
	}
	return err
}

func (s *Store) unreserve(size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index.unreserve(size)
}

// shrinkToBound evicts down to the bound at Open, for a bound lowered since
// the last run. It writes with Update, not Batch, so that every database
// access of Open runs on Open's goroutine (see loadFrom).
func (s *Store) shrinkToBound() error {
	if s.opts.MaxBytes == 0 {
		return nil
	}
	s.mu.Lock()
	victims := s.index.shrink(s.opts.MaxBytes)
	s.mu.Unlock()
	if err := s.evict(victims, s.db.Update); err != nil {
		return fmt.Errorf("evict down to %d bytes: %w", s.opts.MaxBytes, err)
	}
	return nil
}

// evict deletes the pieces, complete or partial, the index has let go of:
// first their records and access times, in one transaction run by write,
// then their files, so that a crash in between leaves files without
// records, which Open removes, and never a record without its file. A
// victim committed again since it was chosen is kept. If the transaction
// fails, the victims go back into the index and nothing is deleted.
func (s *Store) evict(victims []*piece, write func(func(*bolt.Tx) error) error) error {
	if len(victims) == 0 {
		return nil
	}
	unlock := s.lockStripes(victims)
	defer unlock()
	gone := s.notRecommitted(victims)
	ds := make([]meta.Digest, len(gone))
	for i, p := range gone {
		ds[i] = p.d
	}
	if err := s.step(stepEvict, func() error { return write(deletePieces(ds...)) }); err != nil {
		s.restore(gone)
		return fmt.Errorf("evict %d pieces: %w", len(gone), err)
	}
	var bytes int64
	for _, p := range gone {
		s.files.evict(p.d) // so that the space is freed once no reader has the file open
		s.unlink(p)
		bytes += s.heldBy(p)
	}
	s.counted(len(gone), bytes)
	s.log.WithFields(logrus.Fields{"pieces": len(gone), "bytes": bytes}).Debug("evicted least recently used pieces")
	return nil
}

// lockStripes locks the stripes of ps in ascending order, the one order in
// which anyone holds more than one, and returns the unlock.
func (s *Store) lockStripes(ps []*piece) func() {
	var want [len(s.stripes)]bool
	for _, p := range ps {
		want[p.d[0]] = true
	}
	var held []*sync.Mutex
	for i := range want {
		if want[i] {
			s.stripes[i].Lock()
			held = append(held, &s.stripes[i])
		}
	}
	return func() {
		for _, mu := range held {
			mu.Unlock()
		}
	}
}

// notRecommitted returns the victims whose digest is not complete again.
// A partial victim whose digest has a new partial piece (a Part created
// since it was chosen, which cannot have recorded a block yet: its commit
// waits for the reservation that is evicting) is still evicted, but its
// file is kept for the new piece (see unlink).
func (s *Store) notRecommitted(victims []*piece) []*piece {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var gone []*piece
	for _, p := range victims {
		if _, back := s.index.get(p.d); !back {
			gone = append(gone, p)
		}
	}
	return gone
}

// restore puts victims whose eviction failed back as the least recently
// used pieces. Their access times are not rewritten (dirty stays false):
// index.takeDirty finds dirty pieces only at the head.
func (s *Store) restore(victims []*piece) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range victims {
		if !s.index.known(p.d) {
			p.dirty = false
			s.index.addOldest(p)
		}
	}
}

// counted adds n pieces of bytes to the evictions since Open.
func (s *Store) counted(n int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index.evictions += int64(n)
	s.index.evicted += bytes
}

func (s *Store) heldBy(p *piece) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return p.held()
}

// unlink removes the file of an evicted piece, unless it is the partial
// file of a new partial piece of the same digest. A failure is logged: the
// record is gone already, so the file is unrecorded, and Open removes it.
// The caller holds p's stripe.
func (s *Store) unlink(p *piece) {
	if p.part && s.hasPartial(p.d) {
		return
	}
	err := s.step(stepUnlink, func() error { return os.Remove(s.pathOf(p)) })
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.leftOver()
		s.log.WithError(err).WithField("piece", p.d.String()).Warn("remove evicted piece file")
	}
}

func (s *Store) hasPartial(d meta.Digest) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.index.getPartial(d)
	return ok
}
