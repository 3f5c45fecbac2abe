package origin

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/piecefs/piecefs/internal/durable"
)

// Dir is a publish output directory being written. It is safe for
// concurrent use, and several Dirs (in several processes) may write the
// same directory at once: every object lands by an atomic rename.
type Dir struct {
	root string

	mu    sync.Mutex // guards stats
	stats Stats
}

// Stats counts what a Dir has done.
type Stats struct {
	Written      int   // pieces written by PutPiece, repairs included
	Skipped      int   // pieces PutPiece found already present and whole
	WrittenBytes int64 // bytes of the pieces written
	// Repaired counts pieces, block tables and manifests that were present
	// under their name but did not hash to it, and were rewritten.
	Repaired int
}

// OpenDir returns the output directory at root, creating root and its
// pieces, blocks, manifests and tags directories as needed.
func OpenDir(root string) (*Dir, error) {
	for _, sub := range []string{"pieces", "blocks", "manifests", "tags"} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o755); err != nil {
			return nil, fmt.Errorf("open output directory: %w", err)
		}
	}
	// The new directories' entries must be durable before any object is
	// written under them.
	if err := durable.SyncDir(root); err != nil {
		return nil, fmt.Errorf("open output directory: %w", err)
	}
	return &Dir{root: root}, nil
}

// Stats returns what the Dir has written, skipped and repaired so far.
func (d *Dir) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// countPiece records the outcome of putting a piece of size bytes.
func (d *Dir) countPiece(r putResult, size int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch r {
	case putSkipped:
		d.stats.Skipped++
	case putRepaired:
		d.stats.Repaired++
		fallthrough
	case putWritten:
		d.stats.Written++
		d.stats.WrittenBytes += int64(size)
	}
}

// countBlocks records the outcome of putting a block table: only a repair
// is counted, as for a manifest.
func (d *Dir) countBlocks(r putResult) { d.countManifest(r) }

// countManifest records the outcome of putting a manifest: only a repair
// is counted.
func (d *Dir) countManifest(r putResult) {
	if r != putRepaired {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.Repaired++
}

// path returns where the layout path rel (meta.PiecePath and friends) lives.
func (d *Dir) path(rel string) string { return filepath.Join(d.root, filepath.FromSlash(rel)) }
