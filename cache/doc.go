// Package cache is the memory tier of piecefs: a least-recently-used set of
// piece bytes bounded in bytes. The key type is the consumer's: whole
// pieces by digest, or blocks of a piece by digest and block.
//
// # Sizing
//
// The bound is on the sum of the lengths of the cached values, not on the
// number of entries, because pieces differ in size (a file's last piece is
// usually short). Adding a value evicts least-recently-used values until the
// total is within the bound again; a value larger than the whole bound is
// not cached at all, so it cannot flush everything else out. A bound of zero
// or less disables the cache: every method is then a cheap no-op and Get
// always misses. A nil *Cache behaves as a disabled one.
//
// # Sharing
//
// Get returns the cached slice itself, not a copy: pieces are immutable and
// copying megabytes on every hit would defeat the tier. Callers must not
// modify the returned bytes. Add keeps the slice it is given, so the caller
// must not modify it afterwards either.
//
// # Counting
//
// [Cache.Stats] reports the bytes and values cached, the bound, and the
// values evicted to make room since New with their bytes; a value replaced
// under its own key, or too large to cache, is not an eviction.
//
// # Concurrency
//
// All methods are safe for concurrent use.
package cache
