package e2e

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// boundCacheMix measures the piece files of a cache: complete, .part and
// partial (.blocks) apart. It remembers what they were when their total
// was largest (how many of each, and of what sizes) and the largest total
// of the complete ones, which is what the store's bound governs by itself.
type boundCacheMix struct {
	mu                                  sync.Mutex // guards the fields below
	max, maxComplete                    int64
	complete, parts, partials           int
	completeSize, partSize, partialSize int64
}

// measure returns the bytes the files under dir take (see
// boundFileBytes). It tolerates files vanishing during the walk, so it
// can poll a live mount's cache.
func (b *boundCacheMix) measure(dir string) int64 {
	var c, p, q int
	var cs, ps, qs int64
	seen := map[uint64]bool{}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil || boundSeen(seen, fi) {
			return nil
		}
		n := boundFileBytes(path, fi)
		switch {
		case strings.HasSuffix(path, partSuffix):
			p, ps = p+1, ps+n
		case strings.HasSuffix(path, blocksSuffix):
			q, qs = q+1, qs+n
		default:
			c, cs = c+1, cs+n
		}
		return nil
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maxComplete = max(b.maxComplete, cs)
	if total := cs + ps + qs; total > b.max {
		b.max, b.complete, b.parts, b.partials, b.completeSize, b.partSize, b.partialSize = total, c, p, q, cs, ps, qs
	}
	return cs + ps + qs
}

// boundFileBytes is what a piece file at path counts for against the disk
// bound: its size, but for a partial piece's .blocks file, which has the
// whole piece's size and holds only some of its blocks, the bytes the file
// system has allocated to it (its recorded blocks, and blocks being
// written that are not recorded yet).
func boundFileBytes(path string, fi fs.FileInfo) int64 {
	if !strings.HasSuffix(path, blocksSuffix) {
		return fi.Size()
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return min(st.Blocks*512, fi.Size()) // st_blocks counts 512-byte units
	}
	return fi.Size()
}

// boundSeen reports whether the file fi was counted already, under
// another name, and notes it: a partial piece being completed may have its
// complete name linked to its .blocks file for a moment, and one file is
// one file's bytes on disk.
func boundSeen(seen map[uint64]bool, fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	if seen[st.Ino] {
		return true
	}
	seen[st.Ino] = true
	return false
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
	return fmt.Sprintf("%d complete files of %s, %d .part files of %s, %d .blocks files with %s allocated",
		b.complete, boundMiB(b.completeSize), b.parts, boundMiB(b.partSize), b.partials, boundMiB(b.partialSize))
}
