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

	mu           sync.Mutex // guards written, skipped and writtenBytes
	written      int        // pieces written by PutPiece
	skipped      int        // pieces PutPiece found already present
	writtenBytes int64      // bytes of the pieces written
}

// OpenDir returns the output directory at root, creating root and its
// pieces, manifests and tags directories as needed.
func OpenDir(root string) (*Dir, error) {
	for _, sub := range []string{"pieces", "manifests", "tags"} {
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

// Stats returns how many pieces PutPiece has written and skipped (already
// present), and the bytes written. Manifests and tags are not counted.
func (d *Dir) Stats() (written, skipped int, writtenBytes int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.written, d.skipped, d.writtenBytes
}

func (d *Dir) count(written bool, size int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if written {
		d.written++
		d.writtenBytes += int64(size)
	} else {
		d.skipped++
	}
}

// path returns where the layout path rel (meta.PiecePath and friends) lives.
func (d *Dir) path(rel string) string { return filepath.Join(d.root, filepath.FromSlash(rel)) }
