package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// Bucket names in the database; see "Layout" in the package documentation
// for their keys and values.
const (
	// BucketPieces records complete pieces: digest → size.
	BucketPieces = "pieces"
	// BucketManifests records cached manifests: digest → size.
	BucketManifests = "manifests"
	// BucketTags records tags: origin + "\x00" + tag → manifest digest.
	BucketTags = "tags"
	// BucketAtime records when complete pieces were last read: digest →
	// unix seconds. It orders eviction across restarts.
	BucketAtime = "atime"
	// BucketBlocks records the checksums of complete pieces: digest → a
	// CRC-32C per 64 KiB block. Reads check the blocks they read against
	// them (see "Verification").
	BucketBlocks = "blocks"
	// BucketPartial records partial pieces: digest → size, a bitmap of the
	// blocks on disk, and the CRC-32C of each (see "Partial pieces").
	BucketPartial = "partial"
	// BucketPins records pins: owner → the digests and sizes of the
	// pieces it keeps out of eviction (see "Pins").
	BucketPins = "pins"
	// BucketClean holds the mark of a clean close: "txid" → the 8-byte
	// big-endian id of the transaction that wrote it (see "Clean close").
	BucketClean = "clean"
)

var buckets = []string{BucketPieces, BucketManifests, BucketTags, BucketAtime, BucketBlocks, BucketPartial, BucketPins, BucketClean}

// ensureBuckets creates the buckets that db lacks, writing only if one is
// missing.
func ensureBuckets(db *bolt.DB) error {
	missing := false
	err := db.View(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			missing = missing || tx.Bucket([]byte(b)) == nil
		}
		return nil
	})
	if err != nil || !missing {
		return err
	}
	return db.Update(createBuckets)
}

func createBuckets(tx *bolt.Tx) error {
	for _, b := range buckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
			return fmt.Errorf("bucket %s: %w", b, err)
		}
	}
	return nil
}

// encodeSize encodes a size or a time; both are 8-byte big-endian.
func encodeSize(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// decodeSize returns the size in a record value, or false if the value is
// malformed.
func decodeSize(v []byte) (int64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	n := binary.BigEndian.Uint64(v)
	return int64(n), n <= 1<<62
}

// putRecord returns a function that records d with size in bucket. It is
// idempotent, as db.Batch requires.
func putRecord(bucket string, d meta.Digest, size int64) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Put(d[:], encodeSize(size))
	}
}

// putPiece returns a function that records the piece d of size bytes
// complete, with the checksums of its blocks, in one transaction: a piece
// is never recorded without them. The transaction deletes the record of a
// partial piece d too, whose file the caller then removes or has renamed.
// table is the block table a piece made from verified blocks is trusted on
// instead of a hash of the whole (see "Verification"); zero for a piece
// hashed whole. It is idempotent, as db.Batch requires.
func putPiece(d meta.Digest, size int64, sums []uint32, table meta.Digest) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte(BucketPartial)).Delete(d[:]); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(BucketBlocks)).Put(d[:], encodeSums(sums, table)); err != nil {
			return err
		}
		return tx.Bucket([]byte(BucketPieces)).Put(d[:], encodeSize(size))
	}
}

// putSums returns a function that records the checksums of the piece d,
// computed while hashing it whole against d (so with no block table), if
// the piece is still recorded complete: checksums must not outlive their
// piece's record. It is idempotent, as db.Batch requires.
func putSums(d meta.Digest, sums []uint32) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(BucketPieces)).Get(d[:]) == nil {
			return nil
		}
		return tx.Bucket([]byte(BucketBlocks)).Put(d[:], encodeSums(sums, meta.Digest{}))
	}
}

// deleteRecord returns a function that removes d from bucket.
func deleteRecord(bucket string, d meta.Digest) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Delete(d[:])
	}
}

// deleteKeys returns a function that removes keys from bucket.
func deleteKeys(bucket string, keys [][]byte) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("delete record %x: %w", k, err)
			}
		}
		return nil
	}
}

// putPartial returns a function that records the blocks have of the
// partial piece d. It is idempotent, as db.Batch requires.
func putPartial(d meta.Digest, have *presence) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketPartial)).Put(d[:], encodePartial(have))
	}
}

// deletePieces returns a function that removes the records, access times
// and checksums of ds, complete or partial. It is idempotent, as db.Batch
// requires.
func deletePieces(ds ...meta.Digest) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		for _, name := range []string{BucketPieces, BucketPartial, BucketAtime, BucketBlocks} {
			b := tx.Bucket([]byte(name))
			for _, d := range ds {
				if err := b.Delete(d[:]); err != nil {
					return err
				}
			}
		}
		return nil
	}
}
