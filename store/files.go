package store

import (
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/piecefs/piecefs/meta"
)

// fileCache keeps up to a fixed number of piece files open between reads.
// Each open file is reference counted: the cache holds one reference while
// the file is cached and each reader holds one until it releases, so a file
// is closed only when it has been evicted and its last reader is done.
//
// A cached file belongs to the piece record it was opened for, not to the
// digest: a piece can be dropped (its file found damaged) and committed
// again while a reader that opened the old file is still between its open
// and its insert. The path then names the new file, but the old handle
// would be cached under the same digest and serve the damaged bytes to
// readers of the new record. So a file is handed only to readers of the
// record it was opened for, and it is cached only while that record is
// still the current one.
type fileCache struct {
	path    func(*piece) string // the file of a piece record
	current func(*piece) bool   // reports whether p is still the index's record of p.d

	// opened, if set, runs after a file is opened and before it is cached;
	// tests use it to put a drop and a commit in between.
	opened func(d meta.Digest)

	mu     sync.Mutex // guards lru, closed and every openFile.refs
	lru    *simplelru.LRU[meta.Digest, *openFile]
	closed bool

	readers sync.WaitGroup // acquired and not yet released
}

var errCacheClosed = fmt.Errorf("open file cache: %w", fs.ErrClosed)

type openFile struct {
	f    *os.File
	rec  *piece // the record f was opened for
	refs int    // guarded by fileCache.mu
}

func newFileCache(n int, path func(*piece) string, current func(*piece) bool) *fileCache {
	c := &fileCache{path: path, current: current}
	lru, err := simplelru.NewLRU(n, c.onEvictLocked)
	if err != nil {
		panic(fmt.Sprintf("file cache of %d files: %v", n, err)) // n > 0 by Options defaults
	}
	c.lru = lru
	return c
}

// onEvictLocked drops the cache's own reference; simplelru calls it from
// inside the methods called with c.mu held.
func (c *fileCache) onEvictLocked(_ meta.Digest, of *openFile) { c.unrefLocked(of) }

func (c *fileCache) unrefLocked(of *openFile) {
	of.refs--
	if of.refs == 0 {
		// A read-only file has nothing to flush, so its Close error says
		// nothing about the data.
		_ = of.f.Close()
	}
}

// acquire returns the open file of the pinned piece record p and a function
// that must be called once when the caller is done reading it. The error
// wraps fs.ErrNotExist if the file is missing and fs.ErrClosed after close.
func (c *fileCache) acquire(p *piece) (*os.File, func(), error) {
	of, err := c.cached(p)
	if err != nil {
		return nil, nil, err
	}
	if of == nil {
		// Open without the lock: a slow open must not stall hits on other
		// files.
		f, err := os.Open(c.path(p))
		if err != nil {
			return nil, nil, err
		}
		if c.opened != nil {
			c.opened(p.d)
		}
		if of, err = c.insert(p, f); err != nil {
			return nil, nil, err
		}
	}
	return of.f, c.releaser(of), nil
}

// cached returns the cached file of record p, acquired, or nil if there is
// none. A cached file of another record of the same digest is stale (see
// fileCache) and is evicted.
func (c *fileCache) cached(p *piece) (*openFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errCacheClosed
	}
	of, ok := c.lru.Get(p.d)
	if !ok {
		return nil, nil
	}
	if of.rec != p {
		c.lru.Remove(p.d)
		return nil, nil
	}
	c.useLocked(of)
	return of, nil
}

// insert caches the freshly opened f as the file of record p, unless
// another reader of p got there first or p is no longer current, and
// returns the file to read, acquired. A file it does not cache is closed
// when its reader releases it.
func (c *fileCache) insert(p *piece, f *os.File) (*openFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = f.Close()
		return nil, errCacheClosed
	}
	if of, ok := c.lru.Get(p.d); ok {
		if of.rec == p {
			_ = f.Close()
			c.useLocked(of)
			return of, nil
		}
		// Remove, not replace: simplelru's Add would overwrite the value
		// without the eviction callback, and the stale file would never
		// be closed.
		c.lru.Remove(p.d)
	}
	of := &openFile{f: f, rec: p}
	if c.current(p) {
		of.refs = 1 // the cache's own
		c.lru.Add(p.d, of)
	}
	c.useLocked(of)
	return of, nil
}

func (c *fileCache) useLocked(of *openFile) {
	of.refs++
	c.readers.Add(1)
}

// releaser returns the release function for one use of of; calling it more
// than once has no further effect.
func (c *fileCache) releaser(of *openFile) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.unrefLocked(of)
			c.mu.Unlock()
			c.readers.Done()
		})
	}
}

// evict forgets the file of d; it is closed once no reader uses it.
func (c *fileCache) evict(d meta.Digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(d)
}

// close evicts every file, refuses further acquires, and waits until every
// reader has released, so that all files are closed when it returns.
func (c *fileCache) close() {
	c.mu.Lock()
	c.closed = true
	c.lru.Purge()
	c.mu.Unlock()
	c.readers.Wait()
}

// len returns the number of cached files, for tests.
func (c *fileCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
