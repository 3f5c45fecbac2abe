package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/piecefs/piecefs/meta"
)

// ReadAt reads len(b) bytes of the piece want starting at offset off, with
// the semantics of io.ReaderAt: fewer bytes come with io.EOF when the piece
// ends first. The piece is complete, or partial with every block of the
// range recorded (see "Partial pieces"). It reads the blocks that cover the
// range whole and checks each against its checksum before any of its bytes
// reach b (see "Verification"). If a block of the range is not on disk, if
// the piece is held with another size than want.Size (see "Sizes"), or if
// its file turns out to be missing, short or corrupt, the error wraps
// fs.ErrNotExist; in the last case the piece (or the damaged block of a
// partial piece) is dropped first, so that the caller fetches it again, and
// b holds none of its bytes.
func (s *Store) ReadAt(want meta.Piece, b []byte, off int64) (int, error) {
	d := want.Digest
	if off < 0 {
		return 0, fmt.Errorf("read piece %s: negative offset %d", d, off)
	}
	pc, have, err := s.pinRead(want, off, int64(len(b)))
	if err != nil {
		return 0, fmt.Errorf("read piece %s: %w", d, err)
	}
	defer s.unpin(pc)
	if h := s.opts.readHook; h != nil {
		h(d)
	}
	n := min(int64(len(b)), max(pc.size-off, 0))
	if n == 0 {
		if len(b) > 0 {
			return 0, io.EOF
		}
		return 0, nil
	}
	var sums []uint32
	if have != nil {
		sums = have.sums
	} else if sums, err = s.blockSums(pc, want.Blocks); err != nil {
		return 0, err
	}
	if err := s.readBlocks(pc, sums, b[:n], off); err != nil {
		return 0, err
	}
	if n < int64(len(b)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// readBlocks fills p with the bytes at off of the pinned piece pc, whose
// file holds enough bytes, checking every block it reads against sums. The
// blocks that lie wholly inside p are read straight into it, in one pread;
// a block p takes only part of (at either end) is read whole into a pooled
// buffer and the part copied out. On a failed check p is cleared, so that
// it holds no byte of the damaged piece, and the piece is dropped.
func (s *Store) readBlocks(pc *piece, sums []uint32, p []byte, off int64) error {
	f, release, err := s.files.acquire(pc)
	if errors.Is(err, fs.ErrNotExist) {
		return s.lostPiece(pc, nil, err)
	}
	if err != nil {
		return fmt.Errorf("read piece %s: %w", pc.d, err)
	}
	defer release()
	end := off + int64(len(p))
	wholeEnd := end - end%blockSize // the last block boundary in p
	if end == pc.size {
		wholeEnd = end // the short last block is whole too
	}
	for pos := off; pos < end && err == nil; {
		i := pos / blockSize
		start, n := meta.BlockSpan(pc.size, blockSize, int(i))
		stop := start + n
		if pos == start && wholeEnd > start {
			err = readChecked(f, p[start-off:wholeEnd-off], start, sums)
			pos = wholeEnd
			continue
		}
		err = readPart(f, p[pos-off:min(stop, end)-off], pos, start, stop, sums)
		pos = min(stop, end)
	}
	if err != nil {
		clear(p)
	}
	return s.checked(pc, f, err)
}

// readChecked fills b, whole blocks of a piece starting at the block
// boundary off, from f, and checks them against the piece's checksums.
func readChecked(f io.ReaderAt, b []byte, off int64, sums []uint32) error {
	if err := readFull(f, b, off); err != nil {
		return err
	}
	return checkBlocks(b, off/blockSize, sums)
}

// readPart fills dst with the bytes at pos of the block [start, stop) of a
// piece, reading and checking the whole block.
func readPart(f io.ReaderAt, dst []byte, pos, start, stop int64, sums []uint32) error {
	buf := blockPool.Get().(*[blockSize]byte)
	defer blockPool.Put(buf)
	block := buf[:stop-start]
	if err := readChecked(f, block, start, sums); err != nil {
		return err
	}
	copy(dst, block[pos-start:])
	return nil
}

// readFull fills b from f at off; a file that ends first is short, and the
// error wraps io.ErrUnexpectedEOF.
func readFull(f io.ReaderAt, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	switch {
	case n == len(b):
		return nil
	case err == nil || errors.Is(err, io.EOF):
		return fmt.Errorf("file ends before byte %d: %w", off+int64(len(b)), io.ErrUnexpectedEOF)
	default:
		return err
	}
}

// lostPiece is lost for the complete or partial piece p.
func (s *Store) lostPiece(p *piece, f *os.File, cause error) error {
	if p.part {
		return s.lostPartial(p, cause)
	}
	return s.lost(p.d, f, cause)
}

// lost drops the piece d, whose file f (nil if it could not be opened) was
// found missing, short or corrupt, and returns the read's error.
func (s *Store) lost(d meta.Digest, f *os.File, cause error) error {
	s.log.WithError(cause).WithField("piece", d.String()).Warn("piece file on disk is damaged; dropped to be fetched again")
	if err := s.drop(d, f); err != nil {
		s.log.WithError(err).WithField("piece", d.String()).Warn("drop damaged piece")
	}
	return fmt.Errorf("read piece %s: %w; dropped to be fetched again: %w", d, cause, fs.ErrNotExist)
}

// drop forgets the piece d and removes its record and file, unless the file
// now at its path is not f: then a commit has replaced the bad file since it
// was opened, and that newer piece is kept.
func (s *Store) drop(d meta.Digest, f *os.File) error {
	mu := s.stripe(d)
	mu.Lock()
	defer mu.Unlock()
	s.files.evict(d)
	if replaced(s.piecePath(d), f) {
		return nil
	}
	s.forget(d)
	err := s.db.Update(deletePieces(d))
	// Remove the file even if the record stays: a record without its file
	// is dropped again on the next read or at the next Open.
	s.remove(s.piecePath(d))
	if err != nil {
		return fmt.Errorf("delete record: %w", err)
	}
	return nil
}

func (s *Store) forget(d meta.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.index.get(d); ok {
		s.index.remove(p)
	}
}

// replaced reports whether a file exists at name that is not f (any file, if
// f is nil).
func replaced(name string, f *os.File) bool {
	now, err := os.Stat(name)
	if err != nil {
		return false
	}
	if f == nil {
		return true
	}
	was, err := f.Stat()
	return err == nil && !os.SameFile(now, was)
}
