package store

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/internal/durable"
	"github.com/piecefs/piecefs/meta"
)

// reconcilePartials matches the records of bucket partial with the partial
// files found on disk (see "Partial pieces") and returns the blocks of the
// partial pieces that remain recorded. A record is dropped if it is
// malformed, if its digest is complete, or if its file is missing or has
// another size than the piece; then a file without a kept record is
// removed. Records go before files, as in settleArea. finished is how many
// partial pieces finishCompletions recorded complete, for the log.
func (s *Store) reconcilePartials(complete map[meta.Digest]int64, onDisk map[meta.Digest]found, fresh bool, finished int) (map[meta.Digest]*presence, error) {
	kept := make(map[meta.Digest]*presence)
	var bad [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketPartial)).ForEach(func(k, v []byte) error {
			// decodePartial copies out of the transaction.
			have, ok := decodePartial(v)
			d := meta.Digest{}
			ok = ok && len(k) == len(d)
			if ok {
				d = meta.Digest(k)
				f, present := onDisk[d]
				_, done := complete[d]
				ok = present && !done && f.size == have.size
			}
			if ok {
				kept[d] = have
				delete(onDisk, d)
			} else {
				bad = append(bad, bytes.Clone(k))
			}
			return nil
		})
	})
	if err == nil && len(bad) > 0 {
		err = s.db.Update(deleteKeys(BucketPartial, bad))
	}
	if err != nil {
		return nil, fmt.Errorf("check %s records: %w", BucketPartial, err)
	}
	t := tally{kept: len(kept), dropped: len(bad), finished: finished}
	for d, f := range onDisk {
		s.remove(cmp.Or(f.path, s.partialPath(d)))
		t.unrecorded++
	}
	s.logTally(BucketPartial, t)
	if fresh && t.unrecorded > 0 {
		s.logFresh(BucketPartial, t.unrecorded)
	}
	return kept, nil
}

// finishCompletions records complete, at Open, the partial pieces whose
// completion a crash interrupted between giving the file the piece's name
// <hex> and the transaction that records the piece (see "Partial
// pieces"): a well-formed partial record beside a piece file of the
// record's size that bucket pieces does not record, whether the record's
// .blocks file is still there (the completion linked the file) or not (it
// renamed it). Every block of such a file was durable before it was
// named, but what Open finds is checked all the same: the file is hashed
// against the digest and, if it matches, made durable under its name (the
// file, then its directory, which the crash may have caught before its
// fsync), then recorded complete with the checksums of its blocks in one
// transaction that deletes the partial record, as the interrupted
// completion would have; reconcilePartials then removes the .blocks file,
// if any, as a file without a record. A file that does not hash right
// (damaged since), or that cannot be read or made durable, is left without
// a record, so settleArea removes it, and reconcilePartials keeps the
// partial piece if its .blocks file is there with its size, or drops its
// record: nothing unverified is served. It returns how many pieces it
// recorded complete; the scan's files are left as they are, and settleArea
// finds the new records beside them.
func (s *Store) finishCompletions(sc scanned) (int, error) {
	found, err := s.caughtCompletions(sc)
	if err != nil {
		return 0, err
	}
	var puts []func(*bolt.Tx) error
	synced := make(map[string]error)
	for _, c := range found {
		sums, err := s.verifyCaught(c)
		if err != nil {
			s.log.WithError(err).WithField("piece", c.d.String()).Warn("a crash interrupted the completion of a partial piece, and the file under the piece's name does not hash to its digest or cannot be read; removed, the piece is not complete")
			continue
		}
		dir := filepath.Dir(c.path)
		err, done := synced[dir]
		if !done {
			err = s.step(stepDirsync, func() error { return durable.SyncDir(dir) })
			synced[dir] = err
		}
		if err != nil {
			s.log.WithError(err).WithField("piece", c.d.String()).Warn("a crash interrupted the completion of a partial piece, and the file under the piece's name cannot be made durable; removed, the piece is not complete")
			continue
		}
		puts = append(puts, putPiece(c.d, c.size, sums, meta.Digest{}))
	}
	if len(puts) == 0 {
		return 0, nil
	}
	// Update, not Batch: every database access of Open runs on Open's
	// goroutine (see loadFrom).
	err = s.step(stepCommit, func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			for _, put := range puts {
				if err := put(tx); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("record interrupted completions: %w", err)
	}
	return len(puts), nil
}

// caught is a completion of a partial piece that a crash interrupted: the
// piece's digest and size, and the file under the piece's name.
type caught struct {
	d    meta.Digest
	size int64
	path string
}

// caughtCompletions returns the completions a crash interrupted, as
// finishCompletions describes them.
func (s *Store) caughtCompletions(sc scanned) ([]caught, error) {
	var found []caught
	err := s.db.View(func(tx *bolt.Tx) error {
		pieces := tx.Bucket([]byte(BucketPieces))
		return tx.Bucket([]byte(BucketPartial)).ForEach(func(k, v []byte) error {
			have, ok := decodePartial(v)
			if !ok || len(k) != len(meta.Digest{}) {
				return nil // malformed: reconcilePartials drops it
			}
			if pieces.Get(k) != nil {
				return nil // complete: reconcilePartials drops the record
			}
			d := meta.Digest(k)
			if f, ok := sc.files[d]; ok && f.size == have.size {
				found = append(found, caught{d: d, size: have.size, path: cmp.Or(f.path, s.piecePath(d))})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("check %s records: %w", BucketPartial, err)
	}
	return found, nil
}

// verifyCaught hashes the file of c against its digest, returns the
// checksums of its blocks, and makes its bytes durable.
func (s *Store) verifyCaught(c caught) ([]uint32, error) {
	f, err := os.Open(c.path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // read-only: Close has nothing to report
	sums, err := hashFile(f, c.d, c.size)
	if err != nil {
		return nil, err
	}
	if err := s.step(stepFsync, f.Sync); err != nil {
		return nil, err
	}
	return sums, nil
}
