package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// Verify hashes every complete piece, drops those that are missing, short
// or corrupt, and calls report (if not nil) for each one dropped, with an
// error saying why (it wraps fs.ErrNotExist, and ErrCorrupt if the bytes
// were wrong). It returns how many pieces it checked and how many were
// bad. It stops early with ctx's error when ctx ends, and with an error
// wrapping ErrClosed when the store is closed; Close waits for at most the
// piece being hashed. Verify does not count as a use for the eviction
// order. VerifyManifests does the same for the cached manifests.
func (s *Store) Verify(ctx context.Context, report func(d meta.Digest, err error)) (checked, bad int, err error) {
	tally := tallier(&checked, &bad, report)
	err = s.verifyPieces(ctx, tally)
	return checked, bad, err
}

// VerifyManifests is Verify for the cached manifests: it loads each one
// (LoadManifest drops a corrupt one), drops the record of a missing one,
// and counts and reports them as Verify does.
func (s *Store) VerifyManifests(ctx context.Context, report func(d meta.Digest, err error)) (checked, bad int, err error) {
	tally := tallier(&checked, &bad, report)
	err = s.verifyManifests(ctx, tally)
	return checked, bad, err
}

// DroppedError is the error Verify and VerifyManifests report for a piece
// or manifest they dropped: which one, its recorded size (what a refetch
// of a piece needs), and why.
type DroppedError struct {
	Digest meta.Digest
	Size   int64
	Err    error // wraps fs.ErrNotExist, and ErrCorrupt if the bytes were wrong

	key []byte // the record's key, when dropped at Open
}

// DroppedAtOpen returns the pieces whose records Open dropped because their
// files were missing or of the wrong size (a crash, or damage), so that a
// check of the cache can report them with what it finds itself.
func (s *Store) DroppedAtOpen() []DroppedError { return s.openDrops }

func (e *DroppedError) Error() string { return e.Err.Error() }

// Unwrap returns e.Err.
func (e *DroppedError) Unwrap() error { return e.Err }

// tallier returns a function that counts one outcome into checked and bad
// and reports a bad one.
func tallier(checked, bad *int, report func(meta.Digest, error)) func(meta.Digest, error) {
	return func(d meta.Digest, err error) {
		*checked++
		if err == nil {
			return
		}
		*bad++
		if report != nil {
			report(d, err)
		}
	}
}

func (s *Store) verifyPieces(ctx context.Context, tally func(meta.Digest, error)) error {
	s.mu.RLock()
	ds := s.index.digests()
	s.mu.RUnlock()
	for _, d := range ds {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := s.pin(d, false)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // evicted or dropped since the list was taken
		case err != nil:
			return fmt.Errorf("verify pieces: %w", err)
		}
		err = s.verifyPiece(p)
		s.unpin(p)
		if err != nil && !isDamage(err) {
			return err
		}
		if err != nil {
			err = &DroppedError{Digest: d, Size: p.size, Err: err}
		}
		tally(d, err)
	}
	return nil
}

// verifyPiece hashes the file of the pinned piece p through a file of its
// own, leaving the open-file cache to the reads. The checksums of a good
// file's blocks, computed in the same pass, are recorded if they are not
// what bucket blocks holds: the piece was recorded by an older version, or
// its checksums were garbled (which reads would have taken for damage), or
// it was trusted on a block table, which it no longer needs to be.
func (s *Store) verifyPiece(p *piece) error {
	known, err := s.knownSums(p)
	if err != nil {
		return err
	}
	f, err := os.Open(s.piecePath(p.d))
	if errors.Is(err, fs.ErrNotExist) {
		return s.lost(p.d, nil, err)
	}
	if err != nil {
		return fmt.Errorf("verify piece %s: %w", p.d, err)
	}
	defer f.Close() // read-only: Close has nothing to report
	sums, err := hashFile(f, p.d, p.size)
	if err := s.checked(p, f, err); err != nil {
		return err
	}
	if !slices.Equal(sums, known) || s.tableOf(p) != (meta.Digest{}) {
		if known != nil && !slices.Equal(sums, known) {
			s.log.WithField("piece", p.d.String()).Warn("block checksums recorded for a good piece were wrong; recorded again")
		}
		s.recordSums(p, sums)
	}
	return nil
}

// isDamage reports whether err says a piece or manifest was dropped (or
// found missing), as opposed to a failure to check it.
func isDamage(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func (s *Store) verifyManifests(ctx context.Context, tally func(meta.Digest, error)) error {
	recs, err := s.manifestRecords()
	if err != nil {
		return fmt.Errorf("verify manifests: %w", err)
	}
	for d, size := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.verifyManifest(d)
		if err != nil && !isDamage(err) {
			return fmt.Errorf("verify manifests: %w", err)
		}
		if err != nil {
			err = &DroppedError{Digest: d, Size: size, Err: err}
		}
		tally(d, err)
	}
	return nil
}

// verifyManifest loads the manifest d, which LoadManifest verifies; if its
// file is missing, its record is dropped too.
func (s *Store) verifyManifest(d meta.Digest) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	_, err := s.LoadManifest(d)
	if isDamage(err) {
		s.dropManifest(d)
	}
	return err
}

// manifestRecords returns the digests and sizes recorded in bucket
// manifests.
func (s *Store) manifestRecords() (map[meta.Digest]int64, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	recs := make(map[meta.Digest]int64)
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketManifests)).ForEach(func(k, v []byte) error {
			if d, size, ok := parseRecord(k, v); ok {
				recs[d] = size // d is an array: copied out of the transaction
			}
			return nil
		})
	})
	return recs, err
}
