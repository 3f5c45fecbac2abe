package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// blockSums returns the checksums that reads of the pinned piece p by a
// reader trusting the block table table (zero for none) check its blocks
// against (see "Verification"): those in memory; else those in bucket
// blocks, loaded by the piece's first read in this process; else, for a
// piece an older version recorded without them, or one trusted on another
// block table than table, those computed while hashing the whole file
// against its digest, which are then recorded (and the piece no longer
// trusted on a table alone). Concurrent first reads of a piece share one
// load or hash.
func (s *Store) blockSums(p *piece, table meta.Digest) ([]uint32, error) {
	if sums, ok := s.trustedSums(p, table); ok {
		return sums, nil
	}
	// The flight is this record's, not the digest's: checksums settled
	// for another record of the digest (one dropped since) are those of
	// the bytes that record held, which, trusted on a block table, need
	// not be the bytes of this one.
	v, err, _ := s.verifying.Do(fmt.Sprintf("%p", p), func() (any, error) { return s.firstSums(p, table) })
	if err != nil {
		return nil, err
	}
	if r := v.(trusted); r.table == (meta.Digest{}) || r.table == table {
		return r.sums, nil
	}
	// The flight joined was a reader's of the table p is trusted on,
	// which this reader does not trust: it settles its own (hashing the
	// piece whole, unless that happened meanwhile).
	r, err := s.firstSums(p, table)
	return r.sums, err
}

// trusted is what firstSums settles, and keeps in the piece: its
// checksums and the block table they are trusted on (zero: the piece
// hashed whole).
type trusted struct {
	sums  []uint32
	table meta.Digest
}

// trustedSums returns p's checksums in memory if a reader trusting table
// may check against them: p was hashed whole, or trusted on that table.
func (s *Store) trustedSums(p *piece, table meta.Digest) ([]uint32, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ok := p.sums != nil && (p.table == (meta.Digest{}) || p.table == table)
	return p.sums, ok
}

func (s *Store) firstSums(p *piece, table meta.Digest) (trusted, error) {
	sums, err := s.knownSums(p)
	if err != nil {
		return trusted{}, err
	}
	if t := s.tableOf(p); sums != nil && (t == (meta.Digest{}) || t == table) {
		return trusted{sums, t}, nil
	}
	sums, err = s.upgradeFile(p)
	return trusted{sums: sums}, err
}

// knownSums returns the checksums of the pinned piece p from memory or
// bucket blocks, keeping in memory those it loads (with the block table
// they are trusted on, which tableOf then returns); nil if the piece was
// recorded without them (or with a malformed value, which Open prunes).
func (s *Store) knownSums(p *piece) ([]uint32, error) {
	if sums := s.sumsOf(p); sums != nil {
		return sums, nil
	}
	if p.size == 0 {
		return []uint32{}, nil // no blocks, nothing to record or check
	}
	var sums []uint32
	var table meta.Digest
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(BucketBlocks)).Get(p.d[:]); v != nil {
			sums, table, _ = decodeSums(v, p.size) // copied out of the transaction
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read piece %s: load block checksums: %w", p.d, err)
	}
	if sums != nil {
		s.setSums(p, sums, table)
	}
	return sums, nil
}

// upgradeFile hashes the file of the pinned piece p, which an older version
// recorded without checksums or which is trusted on a block table, against
// its digest, computing the checksums of its blocks in the same pass, and
// records them; if the file is damaged (or not the digest's: the table did
// not describe the piece) it drops the piece instead.
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
	p.sums, p.table = sums, meta.Digest{}
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

func (s *Store) setSums(p *piece, sums []uint32, table meta.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.sums, p.table = sums, table
}

// tableOf returns the block table p is trusted on, once its checksums are
// known (see knownSums).
func (s *Store) tableOf(p *piece) meta.Digest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return p.table
}

// pruneSums deletes, at Open, the checksums of pieces that are not in
// complete (dropped by the reconcile, or by a crash between deleting a
// record and its checksums in an older layout) and those malformed for
// their piece (see sumsValueOK), which then counts as recorded without them. It
// logs how many complete pieces lack checksums: an older version recorded
// them, and each will be hashed whole on its first read.
func (s *Store) pruneSums(complete map[meta.Digest]int64) error {
	with := make(map[meta.Digest]bool, len(complete))
	var stale [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketBlocks)).ForEach(func(k, v []byte) error {
			if len(k) == len(meta.Digest{}) {
				d := meta.Digest(k)
				if size, kept := complete[d]; kept && sumsValueOK(v, size) {
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
