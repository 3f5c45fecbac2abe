package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	pfs "github.com/piecefs/piecefs/fs"
)

// memoryOverhead is what a mount needs beyond its memory tier, its
// manifest, its inodes and the pieces in flight (inFlight): FUSE request
// buffers, the runtime's own slack.
const memoryOverhead = 32 << 20

// inFlight is the room a mount needs for pieces that are in no tier yet:
// the readahead's four prefetches and the four verified pieces waiting to
// be written. Without it the collector runs without pause once the memory
// tier is full: a 1 GiB cat with a 256 MiB tier and 4 MiB pieces went from
// 268 to 308 MiB/s cold and from 852 to 1117 MiB/s warm with it (medians of
// 3, interleaved), its peak RSS from 300 to 330 MiB. It is capped so that
// pieces of tens of megabytes do not lift the bound far beyond the memory
// tier.
func inFlight(pieceSize int64) int64 { return min(8*pieceSize, 64<<20) }

// memoryLimit keeps the Go memory limit at what the mount is meant to
// use, so that the collector runs harder near the bound instead of letting
// the heap grow to twice the live data (the memory tier is most of it).
//
// The bound is set once the manifest is decoded, which stays in memory for
// the whole mount and may be hundreds of megabytes: what the runtime holds
// after a collection then, plus the memory tier, plus memoryOverhead, plus
// pfs.InodeBytes for each inode the kernel holds, which a walk of a large
// tree makes many of. A bound that left the manifest or the inodes out
// would have the collector run without pause, taking half the CPU, as soon
// as the live heap passed it.
type memoryLimit struct {
	base    int64        // bytes, before inodes
	inodes  atomic.Int64 // kept by the file system (fs.Options.Inodes)
	entries int64        // the most inodes there can be
	log     logrus.FieldLogger
}

// newMemoryLimit makes the bound for a mount whose manifest of entries and
// pieces of up to pieceSize bytes is decoded, or returns nil, leaving the
// runtime alone, if the user set GOMEMLIMIT. The bound takes effect with
// start.
func newMemoryLimit(memoryCache, pieceSize int64, entries int, log logrus.FieldLogger) *memoryLimit {
	if os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	return &memoryLimit{base: memoryCache + memoryOverhead + inFlight(pieceSize), entries: int64(entries), log: log}
}

// start measures what the runtime holds once a collection has freed what
// decoding the manifest left behind, and sets the bound. It must be called
// once, before follow; run does both.
func (l *memoryLimit) start() {
	if l == nil {
		return
	}
	runtime.GC()
	held := heldMemory()
	l.base += held
	l.set(l.base)
	l.log.WithFields(logrus.Fields{"bytes": l.base, "held": held}).Debug("Go memory limit set")
}

// run sets the bound (start), closes set, and then follows the inodes
// until stop is closed. The mount runs it in its own goroutine from the
// moment the manifest is decoded and waits for set before its ready line:
// the collection start makes takes milliseconds of CPU, which then
// overlap the mount's own set-up instead of delaying the ready line by all
// of them, and are over before the first reads: run after the ready line,
// it slowed a cold first byte on two cores from 2.6–2.9 ms to 7.3–12.7
// (medians of 9 mounts, three rounds, alternating). Until start returns,
// the runtime's default pacing holds, with a heap of little more than the
// manifest.
func (l *memoryLimit) run(set chan<- struct{}, stop <-chan struct{}) {
	if l == nil {
		close(set)
		return
	}
	l.start()
	close(set)
	l.follow(stop)
}

// counter returns the inode counter for fs.Options.Inodes; nil for a nil
// limit, which counts nothing.
func (l *memoryLimit) counter() *atomic.Int64 {
	if l == nil {
		return nil
	}
	return &l.inodes
}

// follow raises and lowers the bound with the inodes the kernel holds
// until stop is closed. The count may drift up (see fs.Options.Inodes),
// so it is taken at most as the number of entries.
func (l *memoryLimit) follow(stop <-chan struct{}) {
	if l == nil {
		return
	}
	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	last := l.base
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		limit := l.base + min(l.inodes.Load(), l.entries)*pfs.InodeBytes
		if limit > last+limitStep || limit < last-limitStep {
			l.set(limit)
			last = limit
		}
	}
}

// followInterval is how often follow looks at the inode count; a walk
// makes no more than about 100,000 inodes a second, some 50 MB, which the
// overhead and the collector's own slack absorb for that long.
const followInterval = 250 * time.Millisecond

// limitStep is the smallest change of the bound worth making.
const limitStep = 4 << 20

func (l *memoryLimit) set(limit int64) {
	debug.SetMemoryLimit(limit)
	l.log.WithField("bytes", limit).Trace("Go memory limit")
}

// heldMemory returns the memory the Go runtime holds for live data: what
// the memory limit counts (all it has mapped, less what it has returned to
// the OS) less free heap spans, which it may reuse or return. It includes
// fragmentation, stacks and the collector's metadata.
func heldMemory() int64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	var v [3]int64
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			v[i] = int64(s[i].Value.Uint64())
		}
	}
	return v[0] - v[1] - v[2]
}
