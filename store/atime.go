package store

import (
	"bytes"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// atimeInterval is how often access times are written to the database. A
// read only moves its piece in the in-memory order; what a crash loses is
// at most this much of the order, which costs nothing but a slightly
// worse choice of victims. The checksums computed for pieces an older
// version recorded are written at the same time; a crash that loses them
// costs the next process one more hash of those pieces.
const atimeInterval = 30 * time.Second

// flusher writes access times and queued checksums every interval until
// stopped.
type flusher struct {
	quit chan struct{} // closed by stop
	done chan struct{} // closed when the goroutine has returned
}

func (s *Store) startFlusher(interval time.Duration) *flusher {
	f := &flusher{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-f.quit:
				return
			case <-t.C:
				s.flush()
			}
		}
	}()
	return f
}

// stop ends the goroutine and waits for it; a flush in progress finishes.
func (f *flusher) stop() {
	close(f.quit)
	<-f.done
}

// flush writes, in one transaction, the access times changed since the
// last flush and the checksums queued by recordSums. A failure is logged:
// the times are a hint, the checksums stay in memory for this process and
// are computed again by the next, and the next flush carries on.
func (s *Store) flush() { s.flushMarking(false) }

// flushMarking is flush; if clean is true, the same transaction marks the
// directory clean (see "Clean close"), unless the mark this Open trusted
// still holds and there is nothing to write.
func (s *Store) flushMarking(clean bool) {
	s.mu.Lock()
	stamps := s.index.takeDirty()
	s.mu.Unlock()
	sums := s.takePendingSums()
	if len(stamps) == 0 && len(sums) == 0 && (!clean || s.stillMarked()) {
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := putAtimes(stamps)(tx); err != nil {
			return err
		}
		for d, c := range sums {
			if err := putSums(d, c)(tx); err != nil {
				return err
			}
		}
		if clean {
			return putClean(tx)
		}
		return nil
	})
	if err != nil {
		s.log.WithError(err).WithFields(logrus.Fields{"pieces": len(stamps), "checksummed": len(sums)}).
			Warn("record access times and block checksums")
	}
}

// putAtimes records stamps, skipping pieces evicted or dropped since they
// were taken, and partial pieces with no block recorded yet: an access time
// must not outlive, nor precede, its piece's record.
func putAtimes(stamps []stamp) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		pieces, atimes := tx.Bucket([]byte(BucketPieces)), tx.Bucket([]byte(BucketAtime))
		partial := tx.Bucket([]byte(BucketPartial))
		for _, st := range stamps {
			if pieces.Get(st.d[:]) == nil && partial.Get(st.d[:]) == nil {
				continue
			}
			if err := atimes.Put(st.d[:], encodeSize(st.atime)); err != nil {
				return err
			}
		}
		return nil
	}
}

// loadAtimes returns the access times of the pieces in kept (complete or
// partial) and deletes the others (left by a reconcile that dropped their
// pieces, or malformed).
func (s *Store) loadAtimes(kept map[meta.Digest]bool) (map[meta.Digest]int64, error) {
	atimes := make(map[meta.Digest]int64, len(kept))
	var stale [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketAtime)).ForEach(func(k, v []byte) error {
			d, t, ok := parseRecord(k, v)
			if ok && kept[d] {
				atimes[d] = t
				return nil
			}
			stale = append(stale, bytes.Clone(k)) // copied out of the transaction
			return nil
		})
	})
	if err == nil && len(stale) > 0 {
		err = s.db.Update(deleteKeys(BucketAtime, stale))
	}
	if err != nil {
		return nil, fmt.Errorf("load access times: %w", err)
	}
	return atimes, nil
}
