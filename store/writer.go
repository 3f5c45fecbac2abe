package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/piecefs/piecefs/meta"
)

// Writer writes one piece to its .part file; Commit makes it a complete
// piece, Abort discards it. A Writer is used by one goroutine.
type Writer struct {
	s    *Store
	d    meta.Digest
	size int64
	f    *os.File // the .part file; nil once committed or aborted
	n    int64    // bytes written so far
	sums summer   // checksums of the blocks of the bytes written
}

// Create starts writing the piece with digest d, which must end up exactly
// size bytes long. The caller must call Commit or Abort. Create fails with an
// error wrapping ErrBusy while another Writer for d is open.
func (s *Store) Create(d meta.Digest, size int64) (*Writer, error) {
	if size < 0 {
		return nil, fmt.Errorf("create piece %s: negative size %d", d, size)
	}
	if err := s.enter(); err != nil {
		return nil, fmt.Errorf("create piece %s: %w", d, err)
	}
	defer s.leave()
	if !s.claim(d) {
		return nil, fmt.Errorf("create piece %s: %w", d, ErrBusy)
	}
	f, err := s.createPart(d)
	if err != nil {
		s.unclaim(d)
		return nil, fmt.Errorf("create piece %s: %w", d, err)
	}
	return &Writer{s: s, d: d, size: size, f: f}, nil
}

func (s *Store) createPart(d meta.Digest) (*os.File, error) {
	if err := s.beforeWrite(); err != nil {
		return nil, err
	}
	if err := s.fanOut(d); err != nil {
		return nil, err
	}
	return os.OpenFile(s.piecePath(d)+partSuffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}

// Put stores data, which the caller has verified to hash to d, as a complete
// piece: Create, Write and Commit in one call. It does nothing if the piece
// is already complete.
func (s *Store) Put(d meta.Digest, data []byte) error {
	if s.Has(d) {
		return nil
	}
	if s.isClosed() {
		return fmt.Errorf("put piece %s: %w", d, ErrClosed)
	}
	w, err := s.Create(d, int64(len(data)))
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return errors.Join(err, w.Abort())
	}
	return w.Commit()
}

// Write appends p to the piece. Writing more than the size given to Create
// fails.
func (w *Writer) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, fmt.Errorf("write piece %s: %w", w.d, fs.ErrClosed)
	}
	if w.n+int64(len(p)) > w.size {
		return 0, fmt.Errorf("write piece %s: %d bytes would exceed its size %d", w.d, w.n+int64(len(p)), w.size)
	}
	var n int
	err := w.s.step(stepWrite, func() (err error) {
		n, err = w.f.Write(p)
		return err
	})
	w.n += int64(n)
	// Summed from the caller's bytes, which it verified, not read back
	// from the file: a checksum of what the disk returns would vouch for
	// whatever the disk got wrong.
	_, _ = w.sums.Write(p[:n]) // a summer never fails
	if err != nil {
		return n, fmt.Errorf("write piece %s: %w", w.d, err)
	}
	return n, nil
}

// Commit makes the piece complete and durable (see "Crash safety"),
// evicting others if the disk bound needs room (see "Disk bound"). On
// failure nothing is recorded and the written bytes are removed. If the
// piece became complete meanwhile, Commit discards this copy and succeeds.
func (w *Writer) Commit() error {
	if w.f == nil {
		return fmt.Errorf("commit piece %s: %w", w.d, fs.ErrClosed)
	}
	f := w.f
	w.f = nil
	defer w.s.unclaim(w.d)
	if err := w.s.enter(); err != nil {
		_ = f.Close() // nothing to report beyond ErrClosed
		w.s.remove(f.Name())
		return fmt.Errorf("commit piece %s: %w", w.d, err)
	}
	defer w.s.leave()
	if err := w.s.commitPiece(f, w.d, w.size, w.sums.Sums()); err != nil {
		return fmt.Errorf("commit piece %s: %w", w.d, err)
	}
	return nil
}

// Abort closes and removes the .part file. It does nothing after Commit or
// an earlier Abort, so it can be deferred.
func (w *Writer) Abort() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	defer w.s.unclaim(w.d)
	err := errors.Join(f.Close(), os.Remove(f.Name()))
	if err != nil {
		w.s.leftOver()
		return fmt.Errorf("abort piece %s: %w", w.d, err)
	}
	return nil
}

// commitPiece runs the durability steps for the finished .part file f,
// whose blocks have the checksums sums, making room under the disk bound
// between the file's and the directory's.
func (s *Store) commitPiece(f *os.File, d meta.Digest, size int64, sums []uint32) error {
	part := f.Name()
	if err := s.syncClose(f, size); err != nil {
		s.remove(part)
		return err
	}
	if err := s.reserve(size); err != nil {
		s.remove(part)
		return err
	}
	mu := s.stripe(d)
	mu.Lock()
	defer mu.Unlock()
	if s.has(d) {
		s.unreserve(size)
		s.remove(part)
		return nil
	}
	if err := s.installRecord(part, d, size, sums); err != nil {
		s.unreserve(size)
		return err
	}
	s.mu.Lock()
	s.index.commit(&piece{d: d, size: size, atime: s.now(), dirty: true, sums: sums}, size)
	s.mu.Unlock()
	s.supersedeLocked(d)
	return nil
}

// installRecord renames part into place and records the piece with its
// checksums; on failure neither name is left.
func (s *Store) installRecord(part string, d meta.Digest, size int64, sums []uint32) error {
	final := s.piecePath(d)
	if err := s.install(part, final); err != nil {
		return err
	}
	// A file of an earlier copy may still be open in the cache; the
	// rename unlinked it, and its space is freed once it is closed.
	s.files.evict(d)
	err := s.step(stepCommit, func() error { return s.commitRecords(putPiece(d, size, sums, meta.Digest{})) })
	if err != nil {
		s.remove(final)
		return err
	}
	return nil
}

// claim reserves d for one Writer; it reports false if d is taken.
func (s *Store) claim(d meta.Digest) bool {
	s.writingMu.Lock()
	defer s.writingMu.Unlock()
	if s.writing[d] {
		return false
	}
	s.writing[d] = true
	return true
}

func (s *Store) unclaim(d meta.Digest) {
	s.writingMu.Lock()
	defer s.writingMu.Unlock()
	delete(s.writing, d)
}
