package e2e

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
)

// boundCacheMix measures the piece files of a cache, complete and .part
// apart. It remembers what they were when their total was largest (how
// many of each, and of what sizes) and the largest total of the complete
// ones, which is what the store's bound governs by itself.
type boundCacheMix struct {
	mu                     sync.Mutex // guards the fields below
	max, maxComplete       int64
	complete, parts        int
	completeSize, partSize int64
}

// measure returns the total size of the files under dir. It tolerates
// files vanishing during the walk, so it can poll a live mount's cache.
func (b *boundCacheMix) measure(dir string) int64 {
	var c, p int
	var cs, ps int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		switch {
		case err != nil:
		case strings.HasSuffix(path, partSuffix):
			p, ps = p+1, ps+fi.Size()
		default:
			c, cs = c+1, cs+fi.Size()
		}
		return nil
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maxComplete = max(b.maxComplete, cs)
	if cs+ps > b.max {
		b.max, b.complete, b.parts, b.completeSize, b.partSize = cs+ps, c, p, cs, ps
	}
	return cs + ps
}

// MaxComplete is the largest total size of complete piece files measured.
func (b *boundCacheMix) MaxComplete() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.maxComplete
}

// String describes the files at the largest total.
func (b *boundCacheMix) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("%d complete files of %s, %d .part files of %s", b.complete, boundMiB(b.completeSize), b.parts, boundMiB(b.partSize))
}
