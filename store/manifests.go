package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// ErrCorrupt is wrapped by the errors of LoadManifest, ReadAt, Load and
// Verify when a cached file does not hash to its digest, or a block of a
// piece read does not match its checksum (see "Verification"). Those
// errors wrap fs.ErrNotExist too: the file has been dropped, to be fetched
// again.
var ErrCorrupt = errors.New("cached file does not match its digest")

// SaveManifest stores data, the manifest with digest d, durably (the same
// steps as a piece), and records it. If tag is not empty it also records
// that tag of origin now names d. It fails if data does not hash to d.
func (s *Store) SaveManifest(origin, tag string, d meta.Digest, data []byte) error {
	if err := checkTag(origin, tag); err != nil {
		return fmt.Errorf("save manifest %s: %w", d, err)
	}
	if got := meta.Sum(data); got != d {
		return fmt.Errorf("save manifest %s: data hashes to %s", d, got)
	}
	if err := s.enter(); err != nil {
		return fmt.Errorf("save manifest %s: %w", d, err)
	}
	defer s.leave()
	mu := s.stripe(d)
	mu.Lock()
	defer mu.Unlock()
	if err := s.saveManifestLocked(origin, tag, d, data); err != nil {
		return fmt.Errorf("save manifest %s: %w", d, err)
	}
	return nil
}

func checkTag(origin, tag string) error {
	if strings.Contains(origin, "\x00") {
		return fmt.Errorf("origin %q contains a NUL byte", origin)
	}
	if tag == "" {
		return nil
	}
	return meta.ValidTag(tag)
}

// saveManifestLocked runs with the stripe of d held, so that two saves of
// one manifest do not interleave their renames and clean-ups.
func (s *Store) saveManifestLocked(origin, tag string, d meta.Digest, data []byte) error {
	// A file of the right size is kept: LoadManifest verifies it anyway.
	st, err := os.Stat(s.manifestPath(d))
	had := err == nil && st.Size() == int64(len(data))
	if !had {
		if err := s.writeManifestFile(d, data); err != nil {
			return err
		}
	} else if s.manifestRecorded(origin, tag, d, int64(len(data))) {
		// Every mount of a cached tag saves its manifest: a write
		// transaction here would cost each of them an fdatasync or two
		// before the mount is up, to write what is already there.
		return nil
	}
	err = s.step(stepCommit, func() error {
		return s.db.Update(recordManifest(origin, tag, d, int64(len(data))))
	})
	if err != nil && !had {
		s.remove(s.manifestPath(d))
	}
	return err
}

// writeManifestFile durably writes data to a temporary file and installs it
// as the manifest file of d. Temporary names are unique so a failed save
// cannot collide with a later one.
func (s *Store) writeManifestFile(d meta.Digest, data []byte) error {
	if err := s.beforeWrite(); err != nil {
		return err
	}
	final := s.manifestPath(d)
	f, err := os.CreateTemp(filepath.Dir(final), d.Hex()+jsonSuffix+".*"+partSuffix)
	if err != nil {
		return err
	}
	err = s.step(stepWrite, func() error {
		_, err := f.Write(data)
		return err
	})
	if err != nil {
		_ = f.Close() // the write error is the one to report
		s.remove(f.Name())
		return err
	}
	if err := s.syncClose(f, int64(len(data))); err != nil {
		s.remove(f.Name())
		return err
	}
	return s.install(f.Name(), final)
}

func recordManifest(origin, tag string, d meta.Digest, size int64) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if err := putRecord(BucketManifests, d, size)(tx); err != nil {
			return err
		}
		if tag == "" {
			return nil
		}
		return tx.Bucket([]byte(BucketTags)).Put(tagKey(origin, tag), d[:])
	}
}

// manifestRecorded reports whether the records recordManifest would write
// are already in the database, byte for byte.
func (s *Store) manifestRecorded(origin, tag string, d meta.Digest, size int64) bool {
	same := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		same = bytes.Equal(tx.Bucket([]byte(BucketManifests)).Get(d[:]), encodeSize(size)) &&
			(tag == "" || bytes.Equal(tx.Bucket([]byte(BucketTags)).Get(tagKey(origin, tag)), d[:]))
		return nil
	})
	return same
}

func tagKey(origin, tag string) []byte { return []byte(origin + "\x00" + tag) }

// LoadManifest returns the cached manifest with digest d, verified against
// d. The error wraps fs.ErrNotExist if it is not cached; if the cached file
// is corrupt, it is removed and the error wraps both ErrCorrupt and
// fs.ErrNotExist, so the caller fetches it again.
func (s *Store) LoadManifest(d meta.Digest) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, fmt.Errorf("load manifest %s: %w", d, err)
	}
	defer s.leave()
	data, err := os.ReadFile(s.manifestPath(d))
	if err != nil {
		return nil, fmt.Errorf("load manifest %s: %w", d, err)
	}
	if meta.Sum(data) != d {
		s.dropManifest(d)
		return nil, fmt.Errorf("load manifest %s: %w; removed to be fetched again: %w", d, ErrCorrupt, fs.ErrNotExist)
	}
	return data, nil
}

// dropManifest deletes the record and file of manifest d. Tags naming d
// stay: they are still right, and loading d after a fetch works again.
func (s *Store) dropManifest(d meta.Digest) {
	mu := s.stripe(d)
	mu.Lock()
	defer mu.Unlock()
	if err := s.db.Update(deleteRecord(BucketManifests, d)); err != nil {
		s.log.WithError(err).WithField("manifest", d.String()).Warn("drop corrupt manifest record")
	}
	s.remove(s.manifestPath(d))
}

// ResolveTag returns the digest of the manifest that tag of origin was last
// saved with, and false if it was never saved.
func (s *Store) ResolveTag(origin, tag string) (meta.Digest, bool, error) {
	if err := s.enter(); err != nil {
		return meta.Digest{}, false, fmt.Errorf("resolve tag %q of %s: %w", tag, origin, err)
	}
	defer s.leave()
	var d meta.Digest
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(BucketTags)).Get(tagKey(origin, tag))
		if v == nil {
			return nil
		}
		if len(v) != len(d) {
			return fmt.Errorf("malformed record of %d bytes", len(v))
		}
		d, ok = meta.Digest(v), true // the conversion copies out of the transaction
		return nil
	})
	if err != nil {
		return meta.Digest{}, false, fmt.Errorf("resolve tag %q of %s: %w", tag, origin, err)
	}
	return d, ok, nil
}
