package store

import (
	"encoding/binary"
	"fmt"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// cleanKey is the one key of bucket clean: the id of the transaction that
// wrote it, at a clean Close (see "Clean close").
var cleanKey = []byte("txid")

// closedCleanly reports whether the last transaction committed to the
// database is the one a clean Close made: no process has written since,
// so the directory is as that Close left it.
func closedCleanly(db *bolt.DB) (bool, error) {
	var clean bool
	err := db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(BucketClean)).Get(cleanKey)
		clean = len(v) == 8 && binary.BigEndian.Uint64(v) == uint64(tx.ID())
		return nil
	})
	return clean, err
}

// putClean records that the directory is clean as of tx, which must be the
// last transaction committed before the database closes.
func putClean(tx *bolt.Tx) error {
	return tx.Bucket([]byte(BucketClean)).Put(cleanKey, binary.BigEndian.AppendUint64(nil, uint64(tx.ID())))
}

// beforeWrite makes sure that the mark of a clean close, if this Open
// trusted one, no longer holds before the store writes its first file: a
// crash after that write must find the mark gone, so that the next Open
// scans the directory and removes what the crash left. Every transaction
// makes the mark stale by itself; this one is needed only because files
// are written before their records.
func (s *Store) beforeWrite() error {
	s.unmarkMu.Lock()
	defer s.unmarkMu.Unlock()
	if !s.marked {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(BucketClean)).Delete(cleanKey) })
	if err != nil {
		return fmt.Errorf("clear the cache directory's clean-close mark: %w", err)
	}
	s.marked = false
	return nil
}

// leftOver notes that a file the store meant to remove may still be there,
// so that Close does not call the directory clean and the next Open's scan
// removes it.
func (s *Store) leftOver() { s.leftover.Store(true) }

// quiescent reports whether, Close having begun, the directory holds no
// file the records do not account for: no Writer's or Part's file is open,
// and no removal failed.
func (s *Store) quiescent() bool {
	if s.leftover.Load() {
		return false
	}
	s.writingMu.Lock()
	writers := len(s.writing)
	s.writingMu.Unlock()
	if writers > 0 {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range s.index.partials {
		if p.writers > 0 {
			return false
		}
	}
	return true
}

// recordedScan is scan for a directory that closed cleanly: what the
// records of area a say is on disk, read from the database alone, with
// no directory read and no stat, and no path (see found).
func (s *Store) recordedScan(a area) (scanned, error) {
	sc := scanned{files: make(map[meta.Digest]found), partials: make(map[meta.Digest]found)}
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket([]byte(a.bucket)).ForEach(func(k, v []byte) error {
			// A malformed record is left out, as a file it named would
			// be, and matchRecords drops it.
			if d, size, ok := parseRecord(k, v); ok {
				sc.files[d] = found{size: size}
			}
			return nil
		})
		if err != nil || !a.partials {
			return err
		}
		return tx.Bucket([]byte(BucketPartial)).ForEach(func(k, v []byte) error {
			if have, ok := decodePartial(v); ok && len(k) == len(meta.Digest{}) {
				d := meta.Digest(k)
				sc.partials[d] = found{size: have.size}
			}
			return nil
		})
	})
	if err != nil {
		return sc, fmt.Errorf("read the %s records of %s: %w", a.bucket, filepath.Clean(s.dir), err)
	}
	return sc, nil
}

// stillMarked reports whether the mark of a clean close is still the last
// transaction: nothing has been committed since this Open trusted it.
func (s *Store) stillMarked() bool {
	clean, err := closedCleanly(s.db)
	return err == nil && clean
}
