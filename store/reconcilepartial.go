package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// reconcilePartials matches the records of bucket partial with the partial
// files found on disk (see "Partial pieces") and returns the blocks of the
// partial pieces that remain recorded. A record is dropped if it is
// malformed, if its digest is complete, or if its file is missing or has
// another size than the piece; then a file without a kept record is
// removed. Records go before files, as in reconcileArea.
func (s *Store) reconcilePartials(complete map[meta.Digest]int64, onDisk map[meta.Digest]found, fresh bool) (map[meta.Digest]*presence, error) {
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
	t := tally{kept: len(kept), dropped: len(bad)}
	for _, f := range onDisk {
		s.remove(f.path)
		t.unrecorded++
	}
	s.logTally(BucketPartial, t)
	if fresh && t.unrecorded > 0 {
		s.logFresh(BucketPartial, t.unrecorded)
	}
	return kept, nil
}
