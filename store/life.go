package store

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/piecefs/piecefs/meta"
)

// ErrClosed is wrapped by the errors of the methods of a Store called after
// Close has begun. It wraps fs.ErrClosed.
var ErrClosed = fmt.Errorf("cache store is closed: %w", fs.ErrClosed)

// enter registers an operation that Close must wait for; it fails once
// Close has begun. Each successful enter is paired with one leave.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	// Under mu and before closed is set, so every Add happens before
	// Close's Wait, as sync.WaitGroup requires.
	s.ops.Add(1)
	return nil
}

func (s *Store) leave() { s.ops.Done() }

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// pin returns the complete piece d, pinned so that it is not evicted, and
// registered as an operation like enter. If use is true the read counts as
// a use for the eviction order. The caller must unpin it.
func (s *Store) pin(d meta.Digest, use bool) (*piece, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	p, ok := s.index.get(d)
	if !ok {
		return nil, fs.ErrNotExist
	}
	s.ops.Add(1)
	p.pins++
	if use {
		s.index.touch(p, s.now())
	}
	return p, nil
}

// ErrSize is wrapped (with fs.ErrNotExist) by the error of a read that names
// a piece, complete or partial, with another size than the one stored, and
// by the error of CreatePart for such a piece.
var ErrSize = errors.New("the cache holds this digest with another size")

// pinSized is pin for a read of want: a record of want's digest with another
// size is a miss, never served. Every piece stored was verified against its
// digest, so its size is the content's; a manifest that says otherwise is
// wrong, and serving the stored bytes under its size would return too few
// (or, through a caller trusting the size, other) bytes.
func (s *Store) pinSized(want meta.Piece) (*piece, error) {
	p, err := s.pin(want.Digest, true)
	if err != nil {
		return nil, err
	}
	if err := sizeErr(p.size, want.Size); err != nil {
		s.unpin(p)
		return nil, err
	}
	return p, nil
}

// sizeErr is the error of a read that wants a piece of want bytes from one
// the store holds with size bytes, or nil if they are the same.
func sizeErr(size, want int64) error {
	if size == want {
		return nil
	}
	return fmt.Errorf("%w: %d bytes, the read wants %d: %w", ErrSize, size, want, fs.ErrNotExist)
}

func (s *Store) unpin(p *piece) {
	s.mu.Lock()
	p.pins--
	s.mu.Unlock()
	s.ops.Done()
}

// beginClose refuses new operations and waits for those in progress.
func (s *Store) beginClose() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ops.Wait()
}
