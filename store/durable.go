package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/piecefs/piecefs/internal/durable"
)

// The durability steps, as passed to Options.faultHook. A commit runs
// write, fsync, rename, dirsync and commit in that order; when the disk
// bound makes it evict, evict (records deleted) and unlink (files removed)
// run for the victims between fsync and rename. The completion of a
// partial piece that has a partial record runs link in place of rename,
// and unlink .blocks after commit (see finishPart).
const (
	stepWrite        = "write"
	stepFsync        = "fsync"
	stepRename       = "rename"
	stepLink         = "link"
	stepDirsync      = "dirsync"
	stepCommit       = "commit"
	stepUnlinkBlocks = "unlink .blocks"
	stepEvict        = "evict"
	stepUnlink       = "unlink"
)

// step runs fn as the durability step name, first giving the fault hook a
// chance to fail it.
func (s *Store) step(name string, fn func() error) error {
	if h := s.opts.faultHook; h != nil {
		if err := h(name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// syncClose makes the temporary file f durable, closes it, and checks that
// it holds exactly size bytes. f is closed on every path.
func (s *Store) syncClose(f *os.File, size int64) error {
	err := s.step(stepFsync, f.Sync)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return err
	}
	st, err := os.Stat(f.Name())
	if err != nil {
		return fmt.Errorf("size check: %w", err)
	}
	if st.Size() != size {
		return fmt.Errorf("size check: %s holds %d bytes, want %d", f.Name(), st.Size(), size)
	}
	return nil
}

// install renames the durable temporary file tmp to name and makes the new
// directory entry durable. On failure it removes whichever of the two names
// the file then has.
func (s *Store) install(tmp, name string) error {
	if err := s.step(stepRename, func() error { return os.Rename(tmp, name) }); err != nil {
		s.remove(tmp)
		return err
	}
	if err := s.step(stepDirsync, func() error { return durable.SyncDir(filepath.Dir(name)) }); err != nil {
		s.remove(name)
		return err
	}
	return nil
}

// remove deletes a file the store wrote, logging rather than returning a
// failure: the caller is already failing for a better reason, and Open
// removes whatever is left over.
func (s *Store) remove(name string) {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.leftOver()
		s.log.WithError(err).WithField("file", name).Warn("remove leftover file")
	}
}
