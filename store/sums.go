package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// blockSums returns the checksums that reads of the pinned piece p check
// its blocks against (see "Verification"): those in memory; else those in
// bucket blocks, loaded by the piece's first read in this process; else,
// for a piece an older version recorded without them, those computed while
// hashing the whole file against its digest, which are then recorded.
// Concurrent first reads of a piece share one load or hash.
func (s *Store) blockSums(p *piece) ([]uint32, error) {
	if sums := s.sumsOf(p); sums != nil {
		return sums, nil
	}
	v, err, _ := s.verifying.Do(string(p.d[:]), func() (any, error) { return s.firstSums(p) })
	if err != nil {
		return nil, err
	}
	// The flight joined may have been for another record of the digest,
	// one dropped since. Its checksums are still those of the digest's
	// content, which is all that the reads of this record check against.
	sums := v.([]uint32)
	s.setSums(p, sums)
	return sums, nil
}

func (s *Store) firstSums(p *piece) ([]uint32, error) {
	sums, err := s.knownSums(p)
	if err != nil || sums != nil {
		return sums, err
	}
	return s.upgradeFile(p)
}

// knownSums returns the checksums of the pinned piece p from memory or
// bucket blocks, keeping in memory those it loads; nil if the piece was
// recorded without them (or with a malformed value, which Open prunes).
func (s *Store) knownSums(p *piece) ([]uint32, error) {
	if sums := s.sumsOf(p); sums != nil {
		return sums, nil
	}
	if p.size == 0 {
		return []uint32{}, nil // no blocks, nothing to record or check
	}
	var sums []uint32
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(BucketBlocks)).Get(p.d[:]); v != nil {
			sums, _ = decodeSums(v, p.size) // copied out of the transaction
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read piece %s: load block checksums: %w", p.d, err)
	}
	if sums != nil {
		s.setSums(p, sums)
	}
	return sums, nil
}

// upgradeFile hashes the file of the pinned piece p, which an older version
// recorded without checksums, against its digest, computing the checksums
// of its blocks in the same pass, and records them; if the file is damaged
// it drops the piece instead.
func (s *Store) upgradeFile(p *piece) ([]uint32, error) {
	f, release, err := s.files.acquire(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, s.lost(p.d, nil, err)
	}
	if err != nil {
		return nil, fmt.Errorf("verify piece %s: %w", p.d, err)
	}
	defer release()
	sums, err := hashFile(f, p.d, p.size)
	if err := s.checked(p, f, err); err != nil {
		return nil, err
	}
	s.recordSums(p, sums)
	return sums, nil
}

// recordSums keeps sums, computed from bytes that were just hashed against
// the digest of the pinned piece p, as p's checksums, and queues them for
// bucket blocks. They are written with the access times (see flush), not
// at once: the read that computed them need not wait for a database fsync,
// and a crash before the write costs only a second hash of the piece by
// the next process.
func (s *Store) recordSums(p *piece, sums []uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.sums = sums
	s.pendingSums[p.d] = sums
}

// takePendingSums returns the checksums queued by recordSums and empties
// the queue.
func (s *Store) takePendingSums() map[meta.Digest][]uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	pending := s.pendingSums
	s.pendingSums = make(map[meta.Digest][]uint32)
	return pending
}

func (s *Store) sumsOf(p *piece) []uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return p.sums
}

func (s *Store) setSums(p *piece, sums []uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.sums = sums
}

// pruneSums deletes, at Open, the checksums of pieces that are not in
// complete (dropped by the reconcile, or by a crash between deleting a
// record and its checksums in an older layout) and those of the wrong
// length for their piece, which then counts as recorded without them. It
// logs how many complete pieces lack checksums: an older version recorded
// them, and each will be hashed whole on its first read.
func (s *Store) pruneSums(complete map[meta.Digest]int64) error {
	with := make(map[meta.Digest]bool, len(complete))
	var stale [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketBlocks)).ForEach(func(k, v []byte) error {
			if len(k) == len(meta.Digest{}) {
				d := meta.Digest(k)
				if size, kept := complete[d]; kept && len(v) == 4*numBlocks(size) {
					with[d] = true
					return nil
				}
			}
			stale = append(stale, bytes.Clone(k)) // copied out of the transaction
			return nil
		})
	})
	if err == nil && len(stale) > 0 {
		err = s.db.Update(deleteKeys(BucketBlocks, stale))
	}
	if err != nil {
		return fmt.Errorf("prune block checksums: %w", err)
	}
	without := 0
	for d, size := range complete {
		if size > 0 && !with[d] {
			without++
		}
	}
	if without > 0 {
		s.log.WithField("pieces", without).Info("pieces recorded without block checksums (by an older version): each is hashed whole on its first read, and its checksums recorded")
	}
	return nil
}
