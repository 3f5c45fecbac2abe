package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/piecefs/piecefs/internal/durable"
	"github.com/piecefs/piecefs/meta"
)

// Names inside the cache directory.
const (
	// DBName is the name of the bbolt database in the cache directory.
	DBName       = "piecefs.db"
	piecesDir    = "pieces"
	manifestsDir = "manifests"
	partSuffix   = ".part"
	blocksSuffix = ".blocks" // a partial piece (see "Partial pieces")
	jsonSuffix   = ".json"
	probeName    = ".piecefs-probe"
)

func (s *Store) piecePath(d meta.Digest) string {
	return filepath.Join(s.dir, filepath.FromSlash(meta.PiecePath(d)))
}

// partialPath is where the blocks of the partial piece d are kept.
func (s *Store) partialPath(d meta.Digest) string { return s.piecePath(d) + blocksSuffix }

// pathOf returns the file of p: its piece file, or its partial file.
func (s *Store) pathOf(p *piece) string {
	if p.part {
		return s.partialPath(p.d)
	}
	return s.piecePath(p.d)
}

func (s *Store) manifestPath(d meta.Digest) string {
	return filepath.Join(s.dir, filepath.FromSlash(meta.ManifestPath(d)))
}

// prepareDir creates the directories of the layout and checks that the
// store can write in them, so that an unusable cache directory fails Open
// with one clear error instead of failing every write later. The new
// entries are made durable by syncLayout, once the database exists too.
func prepareDir(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, piecesDir), filepath.Join(dir, manifestsDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return unusable(dir, err)
		}
		if err := probeWrite(d); err != nil {
			return unusable(dir, err)
		}
	}
	return nil
}

// probeWrite creates and removes a file in dir. The name is fixed so that
// a crash in between leaves one small file, not one per start. Open runs it
// before it has the lock, so the reconcile of a process opening the same
// directory may remove the file first.
func probeWrite(dir string) error {
	name := filepath.Join(dir, probeName)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = f.Close()
	if rerr := os.Remove(name); err == nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = rerr
	}
	return err
}

func unusable(dir string, err error) error {
	return fmt.Errorf("cache directory %s is not usable: %w (it must be a directory this user can write; fix its permissions or choose another cache directory)", dir, err)
}

// syncLayout makes the entries of the database and of the top directories
// durable.
func syncLayout(dir string) error { return durable.SyncDir(dir) }

// fanOut makes sure the fan-out directory of d exists and that its entry is
// durable, so that a piece renamed into it cannot vanish with it in a
// crash. Only the first call per directory in a process does any I/O.
func (s *Store) fanOut(d meta.Digest) error {
	s.dirsMu.Lock()
	defer s.dirsMu.Unlock()
	if s.dirsReady[d[0]] {
		return nil
	}
	pieces := filepath.Join(s.dir, piecesDir)
	if err := os.MkdirAll(filepath.Join(pieces, fmt.Sprintf("%02x", d[0])), 0o700); err != nil {
		return err
	}
	if err := durable.SyncDir(pieces); err != nil {
		return err
	}
	s.dirsReady[d[0]] = true
	return nil
}
