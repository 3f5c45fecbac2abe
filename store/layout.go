package store

import (
	"fmt"
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
	jsonSuffix   = ".json"
)

func (s *Store) piecePath(d meta.Digest) string {
	return filepath.Join(s.dir, filepath.FromSlash(meta.PiecePath(d)))
}

func (s *Store) manifestPath(d meta.Digest) string {
	return filepath.Join(s.dir, filepath.FromSlash(meta.ManifestPath(d)))
}

// makeLayout creates the top directories of the layout and makes their
// entries durable. The fan-out directories are made on first use, by
// fanOut.
func makeLayout(dir string) error {
	for _, sub := range []string{piecesDir, manifestsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	return durable.SyncDir(dir)
}

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
