package piece

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"sync/atomic"
)

// Tier names the tier that served a read.
type Tier int

// The tiers, fastest first.
const (
	TierMemory Tier = iota
	TierDisk
	TierNetwork
	numTiers
)

// String returns "memory", "disk" or "network".
func (t Tier) String() string {
	switch t {
	case TierMemory:
		return "memory"
	case TierDisk:
		return "disk"
	case TierNetwork:
		return "network"
	}
	return "Tier(" + strconv.Itoa(int(t)) + ")"
}

// Stats counts what a Reader has served since New (see "Counting"). Reads
// and Bytes are indexed by Tier.
type Stats struct {
	Reads, Bytes     [numTiers]int64
	ReadaheadFetches int64 // prefetches that brought bytes into a faster tier
	ReadaheadHits    int64 // reads served from memory by bytes readahead put there
}

// counters are a Reader's Stats, counted as reads are served.
type counters struct {
	reads, bytes                    [numTiers]atomic.Int64
	readaheadFetches, readaheadHits atomic.Int64
}

// Stats returns what r has counted so far. Each field is read on its own,
// so a snapshot taken during reads may be a few reads apart between fields.
func (r *Reader) Stats() Stats {
	var s Stats
	for t := range numTiers {
		s.Reads[t], s.Bytes[t] = r.stats.reads[t].Load(), r.stats.bytes[t].Load()
	}
	s.ReadaheadFetches, s.ReadaheadHits = r.stats.readaheadFetches.Load(), r.stats.readaheadHits.Load()
	return s
}

// tally is how one slice was served: its bytes by the tier that gave them,
// and whether bytes that readahead prefetched served some of it.
type tally struct {
	bytes    [numTiers]int64
	slowest  Tier
	prefetch bool
}

func (t *tally) add(tier Tier, n int) {
	t.bytes[tier] += int64(n)
	t.slowest = max(t.slowest, tier)
}

// count records a slice served as t says: one read, of the slowest tier
// it waited for.
func (r *Reader) count(t *tally) {
	r.stats.reads[t.slowest].Add(1)
	for tier, n := range t.bytes {
		if n > 0 {
			r.stats.bytes[tier].Add(n)
		}
	}
	if t.prefetch {
		r.stats.readaheadHits.Add(1)
	}
}

// served records a slice of n bytes served by tier alone; prefetched says
// readahead brought its bytes.
func (r *Reader) served(tier Tier, n int, prefetched bool) {
	t := tally{slowest: tier, prefetch: prefetched}
	t.bytes[tier] = int64(n)
	r.count(&t)
}

// marks remembers the memory entries readahead added until a read first
// uses them, to count readahead hits: a fixed table of fingerprints of
// their Keys, so that marking and taking cost an atomic operation and no
// allocation. A mark overwritten by another that lands in its slot, or
// evicted with its entry and never read, is simply not counted: the
// table's size (four times the readahead window) keeps that rare.
type marks struct {
	slots []atomic.Uint64 // fingerprints; 0 is free
	mask  uint64
}

// newMarks returns a table for a readahead window of window entries.
func newMarks(window int) *marks {
	n := 1 << bits.Len(uint(max(4*window, 64)-1))
	return &marks{slots: make([]atomic.Uint64, n), mask: uint64(n - 1)}
}

// fingerprint maps k to a non-zero number; the units of one piece land in
// different slots (an odd multiplier is a bijection modulo a power of two).
func fingerprint(k Key) uint64 {
	f := binary.LittleEndian.Uint64(k.Digest[:8]) ^ uint64(k.Unit+2)*0x9e3779b97f4a7c15
	return max(f, 1)
}

// mark records that readahead put k in memory.
func (m *marks) mark(k Key) {
	if m == nil {
		return
	}
	f := fingerprint(k)
	m.slots[f&m.mask].Store(f)
}

// take reports whether k was marked and not taken since, and clears it.
func (m *marks) take(k Key) bool {
	if m == nil {
		return false
	}
	f := fingerprint(k)
	s := &m.slots[f&m.mask]
	return s.Load() == f && s.CompareAndSwap(f, 0)
}
