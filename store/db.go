package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
)

// openDB creates dir if needed and opens its database, failing with
// ErrInUse if another process holds it for longer than timeout.
func openDB(dir string, timeout time.Duration) (*bolt.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create cache directory: %w", err)
	}
	name := filepath.Join(dir, DBName)
	// Options.NoSync stays false: completion records must be durable.
	db, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("cache directory %s is %w (its lock on %s was not free within %s)", dir, ErrInUse, name, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open cache database %s: %w", name, err)
	}
	if err := db.Update(createBuckets); err != nil {
		return nil, errors.Join(fmt.Errorf("create buckets in %s: %w", name, err), db.Close())
	}
	return db, nil
}

func createBuckets(tx *bolt.Tx) error {
	for _, b := range []string{BucketPieces, BucketManifests, BucketTags} {
		if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
			return fmt.Errorf("bucket %s: %w", b, err)
		}
	}
	return nil
}

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

// deleteRecord returns a function that removes d from bucket.
func deleteRecord(bucket string, d meta.Digest) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Delete(d[:])
	}
}
