package piece

import (
	"io"
	"slices"
	"sort"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/piecefs/piecefs/meta"
)

// Recorder notes the ranges of files that reads ask a Reader for, in the
// order first asked, for `piecefs mount --record` (see "Recording").
// It is safe for concurrent use.
type Recorder struct {
	log   logrus.FieldLogger
	limit int // ranges, at most

	mu     sync.Mutex                 // guards the fields below
	files  map[*meta.Entry][]byteSpan // per file: what is recorded, sorted, disjoint
	ranges []meta.PrefetchRange       // in first-read order, but see addLocked
	tail   int                        // ranges[tail:] is the last run, of one file (see addLocked)
	size   int                        // their encoded size, at most (EncodedSize)
	full   bool                       // a bound was reached: nothing more is recorded
}

// byteSpan is bytes [lo, hi) of a file.
type byteSpan struct{ lo, hi int64 }

// NewRecorder returns an empty Recorder, bounded by meta.MaxPrefetchRanges
// ranges and meta.MaxPrefetchSize encoded bytes; log (nil discards) is told
// once if a bound stops it.
func NewRecorder(log logrus.FieldLogger) *Recorder {
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	return &Recorder{log: log, limit: meta.MaxPrefetchRanges, files: make(map[*meta.Entry][]byteSpan)}
}

// note records bytes [off, off+n) of file e, clamped to its size, less
// what is recorded of it already (see addLocked). A read of recorded bytes
// takes the lock, a map lookup and a binary search, and allocates nothing.
// A nil Recorder notes nothing.
func (rc *Recorder) note(e *meta.Entry, off, n int64) {
	if rc == nil || off < 0 || n <= 0 || off >= e.Size {
		return
	}
	end := off + min(n, e.Size-off)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.full {
		return
	}
	spans := rc.files[e]
	i := sort.Search(len(spans), func(i int) bool { return spans[i].hi >= off })
	cur, j := off, i
	for ; j < len(spans) && spans[j].lo <= end; j++ {
		if spans[j].lo > cur {
			rc.addLocked(e, cur, spans[j].lo)
		}
		cur = max(cur, spans[j].hi)
	}
	if cur < end {
		rc.addLocked(e, cur, end)
	}
	merged := byteSpan{off, end}
	if i < j {
		merged = byteSpan{min(off, spans[i].lo), max(end, spans[j-1].hi)}
	}
	if i+1 == j {
		spans[i] = merged // the usual case, a read next to or inside one span: no allocation
		return
	}
	rc.files[e] = slices.Replace(spans, i, j, merged)
}

// addLocked records bytes [lo, hi) of e, which no range holds yet. The
// ranges that end the list and name e, its run, are kept in offset order and
// merged where they touch: the kernel sends a file's reads several at a
// time and they arrive out of order, and the order within a run is that
// noise, not the start's. A part of another file starts a new run, unless a
// bound is reached.
func (rc *Recorder) addLocked(e *meta.Entry, lo, hi int64) {
	if rc.tail < len(rc.ranges) && rc.ranges[rc.tail].Path != e.Path {
		rc.tail = len(rc.ranges)
	}
	run := rc.ranges[rc.tail:]
	i := sort.Search(len(run), func(k int) bool { return run[k].Offset >= lo })
	joinsPrev := i > 0 && run[i-1].Offset+run[i-1].Length == lo
	joinsNext := i < len(run) && run[i].Offset == hi
	switch {
	case joinsPrev && joinsNext:
		run[i-1].Length += hi - lo + run[i].Length
		rc.ranges = slices.Delete(rc.ranges, rc.tail+i, rc.tail+i+1)
		return
	case joinsPrev:
		run[i-1].Length += hi - lo // the usual case, a file read front to back
		return
	case joinsNext:
		run[i].Offset, run[i].Length = lo, run[i].Length+hi-lo
		return
	}
	r := meta.PrefetchRange{Path: e.Path, Offset: lo, Length: hi - lo}
	if len(rc.ranges) >= rc.limit || rc.size+r.EncodedSize() > meta.MaxPrefetchSize {
		rc.full = true
		rc.log.WithField("ranges", len(rc.ranges)).Warn("the read record is full; later reads are not recorded")
		return
	}
	rc.size += r.EncodedSize()
	rc.ranges = slices.Insert(rc.ranges, rc.tail+i, r)
}

// List returns a copy of what is recorded so far, and whether a bound
// stopped the recording.
func (rc *Recorder) List() (*meta.PrefetchList, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	l := meta.NewPrefetchList()
	l.Ranges = slices.Clone(rc.ranges)
	return l, rc.full
}
