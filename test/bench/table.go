package main

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
)

// column is one of a row's series.
type column int

const (
	colPiecefs column = iota
	colBase
	colRclone
	colHttpfs2
	numCols
)

// row is one line of the table: piecefs, its baseline and the peers (rclone,
// httpfs2) measured the same way, each a series of runs, and the issue's
// target.
type row struct {
	name     string
	unit     string // MiB/s, ms, s, IOPS, MiB, KiB
	baseline string // what the baseline is
	conds    []cond // the target; none when the row is for information
	samples  [numCols][]float64
	mem      [numCols]memUse    // the mount's memory during the row's runs
	p99      [numCols][]float64 // random-read rows: p99 latency of each run, ms
	note     string
}

// cond is one part of a row's target, evaluated on the medians.
type cond struct {
	text string
	// needs is the column the condition compares piecefs with;
	// colPiecefs when it compares piecefs with a constant.
	needs column
	ok    func(p, other float64) bool
}

func (r *row) add(c column, v float64, m memUse) {
	r.samples[c] = append(r.samples[c], v)
	r.mem[c] = r.mem[c].max(m)
}

// median of a column, NaN when it was not measured.
func (r *row) median(c column) float64 { return median(r.samples[c]) }

// median of some runs, NaN when there are none.
func median(runs []float64) float64 {
	s := slices.Clone(runs)
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// ratio is piecefs over the baseline, in the row's unit.
func (r *row) ratio() float64 { return r.median(colPiecefs) / r.median(colBase) }

// target is the row's target as text.
func (r *row) target() string {
	var parts []string
	for _, c := range r.conds {
		parts = append(parts, c.text)
	}
	return strings.Join(parts, "; ")
}

// met says whether the medians meet the target: "yes", "NO", "?" when a
// part could not be measured (and no other part failed), "" without one.
func (r *row) met() string {
	if len(r.conds) == 0 {
		return ""
	}
	p, unknown := r.median(colPiecefs), false
	for _, c := range r.conds {
		other := r.median(c.needs)
		switch {
		case math.IsNaN(p) || math.IsNaN(other):
			unknown = true
		case !c.ok(p, other):
			return "NO"
		}
	}
	if unknown {
		return "?"
	}
	return "yes"
}

// table holds every row, by name for the code that fills it.
type table struct {
	coldSeq, warmSeq, hotSeq, ceiling *row
	diskWrite                         *row // the cold read beside the disk's durable write speed
	coldCPU                           *row // cores busy during the cold reads and curl's
	profCPU                           *row // the profiled cold read: the mount's cores beside the machine's
	profSHA                           *row // the profiled cold read beside sha256 on one core
	ttfb, ttfbHuge                    *row
	ttfbLocal                         *row // not printed: the local disk's first byte, noted under ttfb
	coldTar, warmTar, find            *row
	random                            [2][2]*row // [warm][deep]
	randomBlocks                      *row       // the warm qd1 read beside local reads of whole 64 KiB blocks
	randomCeiling                     *row       // the warm qd1 read beside random reads of a go-fuse memory file
	hotCeiling                        *row       // the hot re-read beside a hot re-read of a go-fuse memory file
	tarCeiling, findCeiling           *row       // the cold tar and the find beside the same on a go-fuse memory tree
	randomCommits                     *row       // the cold qd1 read beside durable block commits
	fetchedRandom, fetchedOne         *row       // bytes the origin sent per cold read
	preheatMem, preheatDisk           *row       // reads after a preheat, and from the disk tier alone
	preheatRate                       *row       // the preheat itself, beside curl
	rss                               *row
}

// depths are the random-read queue depths, shallow then deep.
var depths = [2]int{1, 16}

// Target helpers: at least or at most k times the other column, or a constant.
func atLeast(text string, c column, k float64) cond {
	return cond{text, c, func(p, o float64) bool { return p >= k*o }}
}
func atMost(text string, c column, k float64) cond {
	return cond{text, c, func(p, o float64) bool { return p <= k*o }}
}
func fasterThan(text string, c column, k float64) cond { // for times: other ≥ k × piecefs
	return cond{text, c, func(p, o float64) bool { return o >= k*p }}
}
func atLeastConst(text string, v float64) cond {
	return cond{text, colPiecefs, func(p, _ float64) bool { return p >= v }}
}
func atMostConst(text string, v float64) cond {
	return cond{text, colPiecefs, func(p, _ float64) bool { return p <= v }}
}

// newTable lays out the rows with the targets.
func newTable(cfg config) *table {
	t := &table{
		coldSeq: &row{name: "seq read, cold", unit: "MiB/s", baseline: "curl, keep-alive",
			conds: []cond{atLeast("≥ 0.5× curl", colBase, 0.5), atLeast("≥ 2.5× rclone", colRclone, 2.5)}},
		warmSeq: &row{name: "seq read, warm", unit: "MiB/s", baseline: "local disk, cold page cache",
			conds: []cond{atLeast("≥ 1.5× rclone", colRclone, 1.5)}},
		hotSeq: &row{name: "seq re-read, hot", unit: "MiB/s", baseline: "page-cached local file",
			conds: []cond{atLeast("≥ 0.5× baseline", colBase, 0.5)}},
		ceiling:   &row{name: "seq read, warm vs FUSE ceiling", unit: "MiB/s", baseline: "go-fuse memory file"},
		coldCPU:   &row{name: fmt.Sprintf("seq read, cold: busy cores of %d", runtime.NumCPU()), unit: "cores", baseline: "curl, keep-alive"},
		profCPU:   &row{name: "seq read, cold, profiled: piecefs CPU", unit: "cores", baseline: "whole machine busy, same read"},
		profSHA:   &row{name: "seq read, cold, profiled vs sha256 on one core", unit: "MiB/s", baseline: "crypto/sha256, one core"},
		diskWrite: &row{name: "seq read, cold vs durable disk write", unit: "MiB/s", baseline: "write+fsync 4 MiB files"},
		ttfb: &row{name: "first byte after mount, " + formatSize(cfg.bigSize), unit: "ms", baseline: "1-byte range GET, keep-alive",
			conds: []cond{atMostConst("≤ 5 ms", 5)}},
		ttfbLocal: &row{name: "first byte, local disk", unit: "ms"},
		coldTar: &row{name: fmt.Sprintf("tar %d files, cold", cfg.files), unit: "s", baseline: "local disk, cold",
			conds: []cond{atMost("≤ 1.5× local", colBase, 1.5), fasterThan("≥ 8× faster than rclone", colRclone, 8)}},
		warmTar: &row{name: fmt.Sprintf("tar %d files, warm", cfg.files), unit: "s", baseline: "local disk, cold"},
		find: &row{name: "find | wc -l, fresh mount", unit: "s", baseline: "local disk, cold",
			conds: []cond{atMostConst("≤ 0.2 s", 0.2)}},
		fetchedRandom: &row{name: fmt.Sprintf("origin bytes per cold random 4 KiB read (%d reads)", fetchedReads), unit: "KiB"},
		fetchedOne: &row{name: "origin bytes for a 1-byte cold read", unit: "KiB",
			conds: []cond{atMostConst("≤ 128 KiB", 128)}},
		rss: &row{name: "peak RSS of a mount, VmHWM", unit: "MiB", baseline: "",
			conds: []cond{atMostConst(fmt.Sprintf("≤ memory-cache + 100 MiB (%s)", formatSize(cfg.memoryCache+100<<20)), mib(cfg.memoryCache)+100)}},
	}
	if cfg.ttfbGiB > 0 {
		t.ttfbHuge = &row{name: fmt.Sprintf("first byte after mount, %d GiB", cfg.ttfbGiB), unit: "ms", baseline: t.ttfb.baseline,
			conds: []cond{atMostConst("≤ 5 ms", 5)}}
	}
	for d, depth := range depths {
		t.random[0][d] = &row{name: fmt.Sprintf("random 4 KiB, cold, qd%d", depth), unit: "IOPS",
			baseline: fmt.Sprintf("4 KiB range GETs/s, %d keep-alive", depth)}
		t.random[1][d] = &row{name: fmt.Sprintf("random 4 KiB, warm, qd%d", depth), unit: "IOPS", baseline: "local disk, cold"}
	}
	t.random[0][0].conds = []cond{atLeast("≥ 0.5× range GET", colBase, 0.5)}
	t.random[1][0].conds = []cond{atLeastConst("≥ 10,000 IOPS", 10000)}
	t.randomBlocks = &row{name: "random 4 KiB, warm, qd1 vs 64 KiB reads", unit: "IOPS", baseline: "local disk, cold, 64 KiB"}
	t.randomCommits = &row{name: "random 4 KiB, cold, qd1 vs durable block commits", unit: "IOPS", baseline: "new-piece block commits/s, qd1"}
	t.preheatMem = &row{name: "seq read after preheat, memory tier", unit: "MiB/s", baseline: "cold from the origin"}
	t.preheatDisk = &row{name: "seq read, disk tier, memory tier cold", unit: "MiB/s", baseline: "cold from the origin"}
	t.preheatRate = &row{name: "preheat of the big file", unit: "MiB/s", baseline: "curl, keep-alive"}
	t.randomCeiling = &row{name: "random 4 KiB, warm, qd1 vs FUSE ceiling", unit: "IOPS", baseline: "go-fuse memory file, qd1"}
	t.hotCeiling = &row{name: "seq re-read, hot vs FUSE ceiling", unit: "MiB/s", baseline: "go-fuse memory file, re-read"}
	t.tarCeiling = &row{name: fmt.Sprintf("tar %d files, cold vs FUSE ceiling", cfg.files), unit: "s", baseline: "go-fuse memory tree"}
	t.findCeiling = &row{name: "find | wc -l vs FUSE ceiling", unit: "s", baseline: "go-fuse memory tree"}
	return t
}

// rows lists the rows in the order they are printed.
func (t *table) rows() []*row {
	rs := []*row{t.coldSeq, t.diskWrite, t.coldCPU, t.profCPU, t.profSHA, t.warmSeq, t.hotSeq, t.hotCeiling, t.ceiling, t.ttfb}
	if t.ttfbHuge != nil {
		rs = append(rs, t.ttfbHuge)
	}
	rs = append(rs, t.coldTar, t.tarCeiling, t.warmTar, t.find, t.findCeiling)
	for _, w := range t.random {
		rs = append(rs, w[0], w[1])
	}
	rs = append(rs, t.randomCommits, t.randomBlocks, t.randomCeiling)
	rs = append(rs, t.preheatMem, t.preheatDisk, t.preheatRate)
	return append(rs, t.fetchedRandom, t.fetchedOne, t.rss)
}

// finish fills the rows derived from others: the ceiling row compares the
// warm read with the ceiling; the first-byte row notes the local disk's; the
// peak RSS row takes the largest VmHWM.
func (t *table) finish() {
	t.ceiling.samples[colPiecefs] = t.warmSeq.samples[colPiecefs]
	t.hotCeiling.samples[colPiecefs] = t.hotSeq.samples[colPiecefs]
	t.tarCeiling.samples[colPiecefs] = t.coldTar.samples[colPiecefs]
	t.findCeiling.samples[colPiecefs] = t.find.samples[colPiecefs]
	t.diskWrite.samples[colPiecefs] = t.coldSeq.samples[colPiecefs]
	t.randomBlocks.samples[colPiecefs] = t.random[1][0].samples[colPiecefs]
	t.randomCeiling.samples[colPiecefs] = t.random[1][0].samples[colPiecefs]
	t.randomCommits.samples[colPiecefs] = t.random[0][0].samples[colPiecefs]
	t.preheatRate.samples[colBase] = t.coldSeq.samples[colBase]
	// A warm read costs at least one FUSE round trip and one disk read of
	// its block, one after the other.
	if f, d := t.randomCeiling.median(colBase), t.randomBlocks.median(colBase); f > 0 && d > 0 {
		t.randomCeiling.note = fmt.Sprintf("one FUSE round trip then one 64 KiB disk read, in series: at most %.0f IOPS", 1/(1/f+1/d))
	}
	if v := t.ttfbLocal.median(colBase); !math.IsNaN(v) {
		t.ttfb.note = fmt.Sprintf("local disk, cold page cache: %.2f ms", v)
	}
	for _, c := range []column{colPiecefs, colRclone, colHttpfs2} {
		var peak memUse
		for _, r := range t.rows() {
			peak = peak.max(r.mem[c])
		}
		if peak.hwm > 0 {
			t.rss.samples[c] = []float64{mib(peak.hwm)}
		}
	}
}
