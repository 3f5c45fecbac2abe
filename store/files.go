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
type fileCache struct {
	path func(meta.Digest) string

	mu     sync.Mutex // guards lru, closed and every openFile.refs
	lru    *simplelru.LRU[meta.Digest, *openFile]
	closed bool

	readers sync.WaitGroup // acquired and not yet released
}

var errCacheClosed = fmt.Errorf("open file cache: %w", fs.ErrClosed)

type openFile struct {
	f    *os.File
	refs int // guarded by fileCache.mu
}

func newFileCache(n int, path func(meta.Digest) string) *fileCache {
	c := &fileCache{path: path}
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

// acquire returns the open file of piece d and a function that must be
// called once when the caller is done reading it. The error wraps
// fs.ErrNotExist if the file is missing and fs.ErrClosed after close.
func (c *fileCache) acquire(d meta.Digest) (*os.File, func(), error) {
	of, err := c.cached(d)
	if err != nil {
		return nil, nil, err
	}
	if of == nil {
		// Open without the lock: a slow open must not stall hits on other
		// files.
		f, err := os.Open(c.path(d))
		if err != nil {
			return nil, nil, err
		}
		if of, err = c.insert(d, f); err != nil {
			return nil, nil, err
		}
	}
	return of.f, c.releaser(of), nil
}

// cached returns the cached file of d, acquired, or nil if there is none.
func (c *fileCache) cached(d meta.Digest) (*openFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errCacheClosed
	}
	of, ok := c.lru.Get(d)
	if !ok {
		return nil, nil
	}
	c.useLocked(of)
	return of, nil
}

// insert caches the freshly opened f as the file of d, unless another reader
// got there first, and returns the cached file, acquired.
func (c *fileCache) insert(d meta.Digest, f *os.File) (*openFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = f.Close()
		return nil, errCacheClosed
	}
	of, ok := c.lru.Get(d)
	if ok {
		_ = f.Close()
	} else {
		of = &openFile{f: f, refs: 1}
		c.lru.Add(d, of)
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
