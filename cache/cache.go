package cache

import (
	"math"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Cache is a byte-bounded LRU of piece bytes under keys of type K (a
// digest, or a digest and a block of its piece: the consumer chooses). The
// zero value and a nil *Cache are disabled caches; use New to get one that
// caches.
type Cache[K comparable] struct {
	max int64 // bound on bytes; <= 0 means disabled

	mu           sync.Mutex // guards lru, bytes, evictions and evictedBytes
	lru          *simplelru.LRU[K, []byte]
	bytes        int64 // sum of len of the values in lru
	evictions    int64 // values evicted to make room, since New
	evictedBytes int64 // their bytes
}

// New returns a cache that holds at most maxBytes bytes of values. If
// maxBytes <= 0 the cache is disabled.
func New[K comparable](maxBytes int64) *Cache[K] {
	c := &Cache[K]{max: maxBytes}
	if maxBytes <= 0 {
		return c
	}
	// The entry bound is effectively unlimited: the byte bound, enforced in
	// Add, is the only one that matters.
	lru, err := simplelru.NewLRU(math.MaxInt, c.onEvictLocked)
	if err != nil {
		panic(err) // unreachable: the size is positive
	}
	c.lru = lru
	return c
}

// onEvictLocked keeps bytes in step with lru; simplelru calls it from inside
// the methods called with c.mu held.
func (c *Cache[K]) onEvictLocked(_ K, b []byte) { c.bytes -= int64(len(b)) }

func (c *Cache[K]) disabled() bool { return c == nil || c.lru == nil }

// Get returns the bytes cached under d, if cached, and marks
// them most recently used. The returned slice is shared with the cache and
// with other callers: it must not be modified.
func (c *Cache[K]) Get(d K) ([]byte, bool) {
	if c.disabled() {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Get(d)
}

// Add caches b under d, evicting the least
// recently used values until the total fits the bound. A value larger than
// the bound is not cached. The cache keeps b itself: the caller must not
// modify it afterwards.
func (c *Cache[K]) Add(d K, b []byte) {
	if c.disabled() || int64(len(b)) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Remove first so that bytes is adjusted through the eviction callback;
	// simplelru's Add replaces an existing value without calling it.
	c.lru.Remove(d)
	c.lru.Add(d, b)
	c.bytes += int64(len(b))
	for c.bytes > c.max {
		_, old, _ := c.lru.RemoveOldest()
		c.evictions++
		c.evictedBytes += int64(len(old))
	}
}

// Len returns the number of cached values.
func (c *Cache[K]) Len() int {
	if c.disabled() {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Bytes returns the sum of the lengths of the cached values.
func (c *Cache[K]) Bytes() int64 {
	if c.disabled() {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Stats is a snapshot of a cache, for metrics and status.
type Stats struct {
	Bytes, MaxBytes         int64 // bytes cached, and the bound
	Len                     int   // values cached
	Evictions, EvictedBytes int64 // values evicted to make room since New, and their bytes
}

// Stats returns a snapshot of c, taken under one lock so that its numbers
// agree. A disabled cache returns zeros.
func (c *Cache[K]) Stats() Stats {
	if c.disabled() {
		return Stats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Bytes: c.bytes, MaxBytes: c.max, Len: c.lru.Len(), Evictions: c.evictions, EvictedBytes: c.evictedBytes}
}
