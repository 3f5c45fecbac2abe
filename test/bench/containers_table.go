package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// The container mode's table: for each piecefs variant, a row of the time
// from starting the mount to the program's output, beside runc on the
// local root file system, and a row of the bytes the origin sent for the
// start, beside the bytes the start reads (the recorded list's lengths).

// ctrRows are one variant's rows and what their notes are made of.
type ctrRows struct {
	start, bytes *row
	times        []startTimes // the timed runs
	ready, out   []float64    // the counted runs: MiB sent by the ready line and by the output
}

// ctrTable holds the container mode's rows.
type ctrTable struct {
	local                []startTimes // the baseline's runs
	exec                 []float64    // seconds: the piecefs binary from exec to exit, page cache dropped
	cold, prefetch, warm *ctrRows
}

// newCtrTable lays out the rows with the targets.
func newCtrTable() *ctrTable {
	variant := func(name string, startCond, bytesCond []cond) *ctrRows {
		return &ctrRows{
			start: &row{name: "container start, " + name, unit: "s", baseline: "runc on the local rootfs, cold", conds: startCond},
			bytes: &row{name: "origin bytes, " + name, unit: "MiB", baseline: "bytes the start reads", conds: bytesCond},
		}
	}
	fetched := []cond{atMost("≤ 2× the bytes read", colBase, 2)}
	return &ctrTable{
		cold:     variant("piecefs cold", nil, fetched),
		prefetch: variant("piecefs cold, prefetch list", []cond{atMost("≤ 1.5× local", colBase, 1.5)}, fetched),
		warm:     variant("piecefs warm", []cond{atMost("≤ 1.2× local", colBase, 1.2)}, nil),
	}
}

func (t *ctrTable) variants() []*ctrRows { return []*ctrRows{t.cold, t.prefetch, t.warm} }

// rows lists the rows in the order they are printed: times, then bytes.
func (t *ctrTable) rows() []*row {
	var rs []*row
	for _, v := range t.variants() {
		rs = append(rs, v.start)
	}
	for _, v := range t.variants() {
		rs = append(rs, v.bytes)
	}
	return rs
}

// finish fills the baselines (the local runs; the bytes the start read) and
// writes each row's note.
func (t *ctrTable) finish(info ctrInfo) {
	var local []float64
	for _, st := range t.local {
		local = append(local, st.output.Seconds())
	}
	for _, v := range t.variants() {
		v.start.samples[colBase] = local
		if info.readBytes > 0 {
			v.bytes.samples[colBase] = []float64{mib(info.readBytes)}
		}
		v.start.note = phasesNote(v.times)
		v.bytes.note = bytesNote(v, info)
	}
}

// phasesNote says where a variant's start spent its time: medians of the
// runs, from the mount process's start. The ready line comes after the
// bundle is written (mount --bundle), so it covers both.
func phasesNote(times []startTimes) string {
	if len(times) == 0 {
		return ""
	}
	pick := func(f func(startTimes) time.Duration) float64 {
		var s []float64
		for _, st := range times {
			s = append(s, f(st).Seconds())
		}
		return median(s)
	}
	return fmt.Sprintf("medians from the mount's start: ready line (bundle written) %.3f s, output %.3f s (runc to output %.3f s)",
		pick(func(s startTimes) time.Duration { return s.ready }),
		pick(func(s startTimes) time.Duration { return s.output }), pick(func(s startTimes) time.Duration { return s.runc }))
}

// bytesNote puts a variant's origin bytes beside the image and says how
// much came before the mount was ready and before the output.
func bytesNote(v *ctrRows, info ctrInfo) string {
	p := v.bytes.median(colPiecefs)
	if math.IsNaN(p) {
		return ""
	}
	var parts []string
	if info.imageBytes > 0 {
		parts = append(parts, fmt.Sprintf("%.0f%% of the image's %.1f MiB of pieces", 100*p/mib(info.imageBytes), mib(info.imageBytes)))
	}
	if r := median(v.ready); !math.IsNaN(r) {
		parts = append(parts, fmt.Sprintf("%.2f MiB by the ready line (tag, manifest of %.2f MiB, the bundle's reads, and what a prefetch fetched by then)", r, mib(info.manifest)))
	}
	if o := median(v.out); !math.IsNaN(o) {
		parts = append(parts, fmt.Sprintf("%.1f MiB by the output", o))
	}
	return strings.Join(parts, "; ")
}

// warmNote says where a warm start's time goes beside the local one: the
// floor of starting the piecefs process at all, the mount's own work to
// its ready line, and runc on the mount against runc on the local disk.
// It is "" until both kinds of run have been made.
func (t *ctrTable) warmNote(binBytes int64) string {
	if len(t.exec) == 0 || len(t.warm.times) == 0 || len(t.local) == 0 {
		return ""
	}
	var ready, runc, local []float64
	for _, st := range t.warm.times {
		ready, runc = append(ready, st.ready.Seconds()), append(runc, st.runc.Seconds())
	}
	for _, st := range t.local {
		local = append(local, st.output.Seconds())
	}
	ex, l := median(t.exec), median(local)
	return fmt.Sprintf("where a warm start goes (medians): the piecefs binary (%.1f MiB) from exec to exit with the page cache dropped %.3f s, the floor of any mount process; "+
		"the mount's own work to the ready line %.3f s (ready %.3f s less that floor); runc to output %.3f s on the mount against %.3f s on the local disk (%.2f×). "+
		"≤ 1.2× local allows %.3f s, so the floor and runc on the mount alone come to %.2f× local",
		mib(binBytes), ex, median(ready)-ex, median(ready), median(runc), l, median(runc)/l, 1.2*l, (ex+median(runc))/l)
}

// printCtrTable prints the rows as aligned columns.
func printCtrTable(w io.Writer, rows []*row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tpiecefs\tbaseline\tratio\ttarget\tmet")
	for _, r := range rows {
		base := ctrFormat(r.median(colBase), r.unit)
		if base != "–" && r.baseline != "" {
			base += " (" + r.baseline + ")"
		}
		ratio := "–"
		if v := r.ratio(); !math.IsNaN(v) && !math.IsInf(v, 0) {
			ratio = fmt.Sprintf("%.2f×", v)
		}
		fmt.Fprintf(tw, "%s (%s)\t%s\t%s\t%s\t%s\t%s\n", r.name, r.unit, ctrFormat(r.median(colPiecefs), r.unit), base, ratio, r.target(), r.met())
	}
	tw.Flush()
}

// ctrFormat is format with a tenth of a MiB, which the bytes rows need.
func ctrFormat(v float64, unit string) string {
	if unit == "MiB" && !math.IsNaN(v) {
		return fmt.Sprintf("%.1f", v)
	}
	return format(v, unit)
}
