package store

import (
	"errors"
	"fmt"

	"github.com/piecefs/piecefs/meta"
)

// ErrPinBudget is wrapped by Pin and PinCheck when the pinned pieces would
// exceed Options.MaxBytes.
var ErrPinBudget = errors.New("pinned pieces would exceed the disk cache bound")

// errPinsPending is returned by the pin methods until they land.
var errPinsPending = fmt.Errorf("pins are not implemented yet: %w", errors.ErrUnsupported)

// Pin records that owner keeps pieces out of eviction, replacing what owner
// pinned before (so re-pinning a path after the publication changed moves
// its pin to the new pieces). It is durable (bbolt, fsynced) before it
// returns and survives restarts. The pieces need not be held yet. It fails,
// recording nothing, with an error wrapping ErrPinBudget that gives the
// numbers when MaxBytes > 0 and the distinct pinned pieces (all owners,
// after the change) would exceed MaxBytes.
func (s *Store) Pin(owner string, pieces []meta.Piece) error {
	return errPinsPending
}

// PinCheck returns the pinned bytes Pin(owner, pieces) would leave, and the
// same error, recording nothing.
func (s *Store) PinCheck(owner string, pieces []meta.Piece) (int64, error) {
	return 0, errPinsPending
}

// Unpin removes the owners named exactly and every owner that starts with
// name+"/" for each name (a directory's pins go with it), and returns how
// many owners were removed. It is durable before it returns.
func (s *Store) Unpin(owners ...string) (int, error) {
	return 0, errPinsPending
}

// Pinned reports, from memory, whether a piece is pinned by any owner.
func (s *Store) Pinned(d meta.Digest) bool {
	return false
}
