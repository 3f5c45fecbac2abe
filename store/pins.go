package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// ErrPinBudget is wrapped by Pin and PinCheck when the pinned pieces would
// exceed Options.MaxBytes.
var ErrPinBudget = errors.New("pinned pieces would exceed the disk cache bound")

// Pin records that owner keeps pieces out of eviction, replacing what owner
// pinned before (so re-pinning a path after the publication changed moves
// its pin to the new pieces). It is durable (bbolt, fsynced) before it
// returns and survives restarts. The pieces need not be held yet. It fails,
// recording nothing, with an error wrapping ErrPinBudget that gives the
// numbers when MaxBytes > 0 and the distinct pinned pieces (all owners,
// after the change) would exceed MaxBytes. See "Pins".
func (s *Store) Pin(owner string, pieces []meta.Piece) error {
	ps, err := pinList(owner, pieces)
	if err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return fmt.Errorf("pin %q: %w", owner, err)
	}
	defer s.leave()
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	s.mu.RLock()
	_, err = s.pinBudgetLocked(owner, ps)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := s.commitRecords(putPins(owner, ps)); err != nil {
		return fmt.Errorf("pin %q: record: %w", owner, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index.pins.set(owner, ps)
	return nil
}

// PinCheck returns the pinned bytes Pin(owner, pieces) would leave, and the
// same error, recording nothing.
func (s *Store) PinCheck(owner string, pieces []meta.Piece) (int64, error) {
	ps, err := pinList(owner, pieces)
	if err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, fmt.Errorf("pin %q: %w", owner, ErrClosed)
	}
	return s.pinBudgetLocked(owner, ps)
}

// pinBudgetLocked returns the pinned bytes that replacing owner's pins by
// ps would leave, and an error wrapping ErrPinBudget if they exceed the
// bound. The caller holds mu.
func (s *Store) pinBudgetLocked(owner string, ps []meta.Piece) (int64, error) {
	after := s.index.pins.after(owner, ps)
	if limit := s.opts.MaxBytes; limit > 0 && after > limit {
		return after, fmt.Errorf("pin %q: %d bytes would be pinned (%d now), over the bound of %d bytes: %w",
			owner, after, s.index.pins.bytes, limit, ErrPinBudget)
	}
	return after, nil
}

// Unpin removes the owners named exactly and every owner that starts with
// name+"/" for each name in owners (a directory's pins go with it), and
// returns how many owners were removed. It is durable before it returns.
func (s *Store) Unpin(owners ...string) (int, error) {
	if err := s.enter(); err != nil {
		return 0, fmt.Errorf("unpin: %w", err)
	}
	defer s.leave()
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	s.mu.RLock()
	gone := s.index.pins.matching(owners)
	s.mu.RUnlock()
	if len(gone) == 0 {
		return 0, nil
	}
	keys := make([][]byte, len(gone))
	for i, o := range gone {
		keys[i] = []byte(o)
	}
	if err := s.commitRecords(deleteKeys(BucketPins, keys)); err != nil {
		return 0, fmt.Errorf("unpin %d owners: %w", len(gone), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range gone {
		s.index.pins.set(o, nil)
	}
	return len(gone), nil
}

// Pinned reports, from memory, whether a piece is pinned by any owner. It
// reports false after Close.
func (s *Store) Pinned(d meta.Digest) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index.pins.has(d) && !s.closed
}

// pinList checks owner and pieces for Pin and returns the pieces'
// distinct digests with their sizes, in ascending order of digest (block
// tables play no part in a pin).
func pinList(owner string, pieces []meta.Piece) ([]meta.Piece, error) {
	if owner == "" || len(owner) > bolt.MaxKeySize {
		return nil, fmt.Errorf("pin owner %q: want 1 to %d bytes", owner, bolt.MaxKeySize)
	}
	ps := make([]meta.Piece, 0, len(pieces))
	for _, p := range pieces {
		if p.Size < 0 || p.Size > maxSize {
			return nil, fmt.Errorf("pin %q: piece %s has size %d", owner, p.Digest, p.Size)
		}
		ps = append(ps, meta.Piece{Digest: p.Digest, Size: p.Size})
	}
	slices.SortFunc(ps, func(a, b meta.Piece) int { return bytes.Compare(a.Digest[:], b.Digest[:]) })
	return slices.CompactFunc(ps, func(a, b meta.Piece) bool { return a.Digest == b.Digest }), nil
}

// maxSize is the largest size a record holds (see decodeSize).
const maxSize = 1 << 62

// pinSet is what the store knows in memory of the pins: each owner's
// pieces, and for each pinned digest how many owners pin it. Store.mu
// guards it (it is part of the index, which shrink consults).
type pinSet struct {
	owners map[string][]meta.Piece // distinct digests, ascending
	counts map[meta.Digest]pinCount
	bytes  int64 // the sizes of the distinct pinned digests
}

// pinCount is how many owners pin a digest, and its size. A digest is one
// content and so has one size; owners that name it with different sizes
// (a wrong manifest) count the size of the first pin that made it pinned.
type pinCount struct {
	owners int
	size   int64
}

func newPinSet() *pinSet {
	return &pinSet{owners: make(map[string][]meta.Piece), counts: make(map[meta.Digest]pinCount)}
}

func (ps *pinSet) has(d meta.Digest) bool {
	_, ok := ps.counts[d]
	return ok
}

// after returns the pinned bytes that replacing owner's pieces by pieces
// would leave.
func (ps *pinSet) after(owner string, pieces []meta.Piece) int64 {
	n := ps.bytes
	mine := make(map[meta.Digest]bool, len(ps.owners[owner]))
	for _, p := range ps.owners[owner] {
		mine[p.Digest] = true
	}
	for _, p := range pieces {
		if mine[p.Digest] {
			delete(mine, p.Digest) // kept
		} else if !ps.has(p.Digest) {
			n += p.Size
		}
	}
	for d := range mine {
		if c := ps.counts[d]; c.owners == 1 {
			n -= c.size
		}
	}
	return n
}

// set replaces owner's pieces by pieces (distinct digests); nil pieces
// remove owner.
func (ps *pinSet) set(owner string, pieces []meta.Piece) {
	for _, p := range ps.owners[owner] {
		c := ps.counts[p.Digest]
		if c.owners--; c.owners == 0 {
			delete(ps.counts, p.Digest)
			ps.bytes -= c.size
		} else {
			ps.counts[p.Digest] = c
		}
	}
	delete(ps.owners, owner)
	if pieces == nil {
		return
	}
	ps.owners[owner] = pieces
	for _, p := range pieces {
		c, ok := ps.counts[p.Digest]
		if !ok {
			c.size = p.Size
			ps.bytes += p.Size
		}
		c.owners++
		ps.counts[p.Digest] = c
	}
}

// matching returns the owners that names name exactly or that start with
// a name and "/", in ascending order.
func (ps *pinSet) matching(names []string) []string {
	var owners []string
	for o := range ps.owners {
		if slices.ContainsFunc(names, func(name string) bool { return owns(name, o) }) {
			owners = append(owners, o)
		}
	}
	slices.Sort(owners)
	return owners
}

// owns reports whether Unpin(name) removes owner.
func owns(name, owner string) bool {
	rest, ok := strings.CutPrefix(owner, name)
	return ok && (rest == "" || rest[0] == '/')
}

// putPins returns a function that records owner's pieces in bucket pins.
// It is idempotent, as db.Batch requires.
func putPins(owner string, pieces []meta.Piece) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketPins)).Put([]byte(owner), encodePins(pieces))
	}
}

// pinsVersion is the first byte of a record of bucket pins.
const pinsVersion = 1

// pinEntry is the length of one piece in a record of bucket pins.
const pinEntry = len(meta.Digest{}) + 8

// encodePins returns the value bucket pins holds for an owner of pieces
// (distinct digests, ascending): the version (1 byte, 1); for each piece
// its digest (32 bytes) and size (8 bytes, big-endian); and the CRC-32C of
// all that, 4 bytes big-endian.
func encodePins(pieces []meta.Piece) []byte {
	v := make([]byte, 0, 1+pinEntry*len(pieces)+4)
	v = append(v, pinsVersion)
	for _, p := range pieces {
		v = append(v, p.Digest[:]...)
		v = binary.BigEndian.AppendUint64(v, uint64(p.Size))
	}
	return binary.BigEndian.AppendUint32(v, crc32.Checksum(v, castagnoli))
}

// decodePins returns the pieces a value of bucket pins records, or false
// if the value is malformed: of another version or length, with a wrong
// checksum, a size out of range, or digests not strictly ascending.
func decodePins(v []byte) ([]meta.Piece, bool) {
	if len(v) < 5 || (len(v)-5)%pinEntry != 0 || v[0] != pinsVersion {
		return nil, false
	}
	body := v[:len(v)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(v[len(body):]) {
		return nil, false
	}
	pieces := make([]meta.Piece, 0, (len(body)-1)/pinEntry)
	for e := body[1:]; len(e) > 0; e = e[pinEntry:] {
		p := meta.Piece{Digest: meta.Digest(e[:32])}
		var ok bool
		if p.Size, ok = decodeSize(e[32:pinEntry]); !ok {
			return nil, false
		}
		if n := len(pieces); n > 0 && bytes.Compare(pieces[n-1].Digest[:], p.Digest[:]) >= 0 {
			return nil, false
		}
		pieces = append(pieces, p)
	}
	return pieces, true
}

// loadPins reads bucket pins at Open. A malformed record is dropped with a
// warning naming its owner: the owner's pieces are evictable again, and
// pinning the owner again restores it.
func (s *Store) loadPins() (*pinSet, error) {
	ps := newPinSet()
	var bad [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketPins)).ForEach(func(k, v []byte) error {
			// decodePins copies out of the transaction; string(k) too.
			pieces, ok := decodePins(v)
			if !ok {
				bad = append(bad, bytes.Clone(k))
				return nil
			}
			ps.set(string(k), pieces)
			return nil
		})
	})
	if err == nil && len(bad) > 0 {
		for _, k := range bad {
			s.log.WithField("owner", fmt.Sprintf("%q", k)).Warn("dropped a damaged pin record: the owner's pieces are no longer pinned")
		}
		err = s.db.Update(deleteKeys(BucketPins, bad))
	}
	if err != nil {
		return nil, fmt.Errorf("check %s records: %w", BucketPins, err)
	}
	if limit := s.opts.MaxBytes; limit > 0 && ps.bytes > limit {
		s.log.WithFields(logrus.Fields{"pinned_bytes": ps.bytes, "max_bytes": limit}).
			Warn("pinned pieces exceed the disk cache bound, which they keep exceeding until unpinned")
	}
	return ps, nil
}
