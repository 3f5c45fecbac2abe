package cache

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

func key(i int) meta.Digest { return meta.Sum([]byte(fmt.Sprint(i))) }

func val(i, n int) []byte { return bytes.Repeat([]byte{byte(i)}, n) }

func TestByteBoundNeverExceeded(t *testing.T) {
	const max = 1000
	c := New[meta.Digest](max)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		n := r.IntN(max + 200) // some values are oversize
		c.Add(key(i%300), val(i, n))
		if got := c.Bytes(); got > max {
			t.Fatalf("after add %d: Bytes() = %d, want <= %d", i, got, max)
		}
	}
	if got := sumValues(c); got != c.Bytes() {
		t.Errorf("sum of cached values = %d, Bytes() = %d; want equal", got, c.Bytes())
	}
}

// sumValues adds up what the cache really holds, to check the bookkeeping.
func sumValues(c *Cache[meta.Digest]) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, v := range c.lru.Values() {
		n += int64(len(v))
	}
	return n
}

func TestLRUOrder(t *testing.T) {
	c := New[meta.Digest](30)
	c.Add(key(1), val(1, 10))
	c.Add(key(2), val(2, 10))
	c.Add(key(3), val(3, 10))
	if _, ok := c.Get(key(1)); !ok { // 1 is now the most recently used
		t.Fatal("Get(1) missed, want hit")
	}
	c.Add(key(4), val(4, 10)) // evicts 2, the least recently used
	for _, tc := range []struct {
		i    int
		want bool
	}{{1, true}, {2, false}, {3, true}, {4, true}} {
		b, ok := c.Get(key(tc.i))
		if ok != tc.want {
			t.Errorf("Get(%d) hit = %v, want %v", tc.i, ok, tc.want)
		}
		if ok && !bytes.Equal(b, val(tc.i, 10)) {
			t.Errorf("Get(%d) = %v, want %v", tc.i, b, val(tc.i, 10))
		}
	}
}

func TestReplaceKeepsAccount(t *testing.T) {
	c := New[meta.Digest](100)
	c.Add(key(1), val(1, 40))
	c.Add(key(1), val(1, 60))
	if got, want := c.Bytes(), int64(60); got != want {
		t.Errorf("Bytes() = %d, want %d", got, want)
	}
	if got, want := c.Len(), 1; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
}

func TestOversizeValue(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		cached bool
	}{
		{"exactly max", 100, true},
		{"one over max", 101, false},
		{"far over max", 10000, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New[meta.Digest](100)
			c.Add(key(0), val(0, 50))
			c.Add(key(1), val(1, tc.size))
			if _, ok := c.Get(key(1)); ok != tc.cached {
				t.Errorf("Get hit = %v, want %v", ok, tc.cached)
			}
			// An oversize value must not flush what is already cached.
			if _, ok := c.Get(key(0)); ok == tc.cached {
				t.Errorf("older value hit = %v, want %v", ok, !tc.cached)
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	caches := map[string]*Cache[meta.Digest]{"nil": nil, "zero": New[meta.Digest](0), "negative": New[meta.Digest](-1), "zero value": {}}
	for name, c := range caches {
		t.Run(name, func(t *testing.T) {
			c.Add(key(1), val(1, 1))
			if _, ok := c.Get(key(1)); ok {
				t.Error("Get hit on a disabled cache, want miss")
			}
			if got := c.Len(); got != 0 {
				t.Errorf("Len() = %d, want 0", got)
			}
			if got := c.Bytes(); got != 0 {
				t.Errorf("Bytes() = %d, want 0", got)
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	const max = 4096
	c := New[meta.Digest](max)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 2000 {
				k := r.IntN(64)
				if b, ok := c.Get(key(k)); ok && len(b) > 0 && b[0] != byte(k) {
					t.Errorf("Get(%d) returned bytes of another key", k)
					return
				}
				c.Add(key(k), val(k, 1+r.IntN(512)))
				if got := c.Bytes(); got > max {
					t.Errorf("Bytes() = %d, want <= %d", got, max)
					return
				}
				_ = c.Len()
			}
		})
	}
	wg.Wait()
}

// TestStats counts what is cached and what was evicted to make room; a
// value replaced under its key, or too large to cache, is no eviction.
func TestStats(t *testing.T) {
	c := New[meta.Digest](100)
	c.Add(key(1), val(1, 40))
	c.Add(key(2), val(2, 40))
	c.Add(key(2), val(2, 30))  // replaced, not evicted
	c.Add(key(3), val(3, 101)) // too large: not cached
	if got, want := c.Stats(), (Stats{Bytes: 70, MaxBytes: 100, Len: 2}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	c.Add(key(4), val(4, 50)) // evicts 1 (40 bytes)
	c.Add(key(5), val(5, 60)) // evicts 2 (30) and 4 (50)
	if got, want := c.Stats(), (Stats{Bytes: 60, MaxBytes: 100, Len: 1, Evictions: 3, EvictedBytes: 120}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	var disabled *Cache[meta.Digest]
	for _, d := range []*Cache[meta.Digest]{disabled, New[meta.Digest](0)} {
		d.Add(key(1), val(1, 1))
		if got := d.Stats(); got != (Stats{}) {
			t.Errorf("disabled cache: Stats() = %+v, want zeros", got)
		}
	}
}
