package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// report prints the table, the notes and the phases, and writes the JSON
// file when asked.
func (b *bench) report(ctx context.Context, t *table, w io.Writer) error {
	notes := append(append(b.methodNotes(), rowNotes(t.rows())...), b.notes...)
	printTable(w, t.rows())
	printNotesAndPhases(w, notes, b.phases)
	if b.cfg.jsonPath == "" {
		return nil
	}
	return b.writeJSON(ctx, t, notes)
}

// printNotesAndPhases prints the notes under a table, a line each, and
// how long each phase of the run took.
func printNotesAndPhases(w io.Writer, notes []string, phases []phase) {
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	fmt.Fprintln(w)
	var times []string
	for _, p := range phases {
		times = append(times, fmt.Sprintf("%s %.0fs", p.Name, p.Seconds))
	}
	fmt.Fprintf(w, "time: %s\n", strings.Join(times, ", "))
}

// printTable prints the rows as aligned columns.
func printTable(w io.Writer, rows []*row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tpiecefs\tbaseline\tratio\trclone\thttpfs2\ttarget\tmet\tpiecefs RSS")
	for _, r := range rows {
		base := format(r.median(colBase), r.unit)
		if base != "–" && r.baseline != "" {
			base += " (" + r.baseline + ")"
		}
		ratio := "–"
		if v := r.ratio(); !math.IsNaN(v) && !math.IsInf(v, 0) {
			ratio = fmt.Sprintf("%.2f×", v)
		}
		rss := "–"
		if m := r.mem[colPiecefs]; m.peakRSS > 0 {
			rss = fmt.Sprintf("%.0f MiB", mib(m.peakRSS))
		}
		fmt.Fprintf(tw, "%s (%s)\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.name, r.unit,
			format(r.median(colPiecefs), r.unit), base, ratio, format(r.median(colRclone), r.unit),
			format(r.median(colHttpfs2), r.unit), r.target(), r.met(), rss)
	}
	tw.Flush()
}

// rowNotes are the rows' own notes and the p99 latencies of random reads.
func rowNotes(rows []*row) []string {
	var notes []string
	for _, r := range rows {
		if r.note != "" {
			notes = append(notes, r.name+": "+r.note)
		}
		if len(r.p99[colPiecefs]) == 0 {
			continue
		}
		var parts []string
		for c := range numCols {
			if v := median(r.p99[c]); !math.IsNaN(v) {
				parts = append(parts, fmt.Sprintf("%s %.2f ms", colName[c], v))
			}
		}
		notes = append(notes, fmt.Sprintf("%s: p99 latency %s", r.name, strings.Join(parts, ", ")))
	}
	return notes
}

// format prints a value with the precision its unit deserves.
func format(v float64, unit string) string {
	if math.IsNaN(v) {
		return "–"
	}
	switch unit {
	case "ms":
		return fmt.Sprintf("%.2f", v)
	case "s":
		return fmt.Sprintf("%.3f", v)
	case "cores":
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// methodNotes say how the rows were measured.
func (b *bench) methodNotes() []string {
	random := fmt.Sprintf("fio psync, 4 KiB, --direct=0, qd N = N jobs, %v a run", b.cfg.fioRuntime)
	if b.tools.fio == "" {
		random = fmt.Sprintf("Go pread loop, 4 KiB, qd N = N goroutines, %v a run (fio is not installed)", b.cfg.fioRuntime)
	}
	notes := []string{
		fmt.Sprintf("medians of %d run(s); ratio = piecefs / baseline in the row's unit; origin: %s on 127.0.0.1", b.cfg.runs, b.origin.kind),
		"cold: empty cache dir, new mount process, page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches); warm: every piece on disk, new mount process, page cache dropped; hot: second read in the same mount",
		"seq reads: 1 MiB read(2)s; curl fetches every piece of the big file in one process over one keep-alive connection",
		"first byte: from the mount's ready line (rclone: from its mountpoint appearing) to the first byte of a 1-byte read at offset 0; the page cache is dropped before the mount starts, so the origin reads the piece from disk too",
		"tar: `tar -cf - -C DIR tree` into a pipe the benchmark drains (GNU tar does not read file contents when the archive is /dev/null)",
		"random: " + random + "; the cold rows' baseline: Go net/http GETs of 4 KiB (Range) at random aligned offsets of the big file's pieces, from N keep-alive connections opened before the page cache is dropped, one request at a time each, for the same time",
		fmt.Sprintf("first byte's baseline: the median of %d GETs of one byte (Range: bytes=N-N) at random offsets of the big file's pieces, one after the other on one keep-alive connection opened before the page cache is dropped", rangeSamples),
		fmt.Sprintf("origin bytes: a TCP relay in front of the origin counts the bytes it sends, headers included (nginx's $bytes_sent), from when a fresh cold mount has fetched nothing for %v (its own tag and manifest are not counted) to when, after the reads, the origin has been quiet for as long; random: %d pread(2)s of 4 KiB at random aligned offsets, one at a time; 1 byte: one pread(2) at 5/8 of the big file; both through the page cache", fetchedQuiet, fetchedReads),
		fmt.Sprintf("FUSE ceiling: a child process serving from memory, with go-fuse and piecefs's mount options, a file of random bytes and a copy of the source tree (opened without a round trip, as piecefs's files are); page cache dropped before each run, which also makes the kernel forget the tree's entries, so a walk looks each up again as on a fresh mount; piecefs --memory-cache %s", formatSize(b.cfg.memoryCache)),
		"piecefs RSS: the largest VmRSS sampled every 50 ms during the row's runs; the peak row is the largest VmHWM of any mount process",
	}
	if b.rclone != nil {
		notes = append(notes, fmt.Sprintf("rclone: `rclone mount :http: --read-only --vfs-cache-mode full` of the source tree served by %s", b.origin.srcBy))
	}
	if b.httpfs2 != nil {
		by := "the same nginx (a server that adds Accept-Ranges to 206 responses, which httpfs2 requires)"
		if b.origin.kind != "nginx" {
			by = b.origin.srcBy
		}
		file := "the original big file"
		if b.peerSize < b.data.bigSize {
			file = fmt.Sprintf("the first %d bytes of the big file (a copy: httpfs2 0.1.4 cannot mount a file of 2 GiB or more)", b.peerSize)
		}
		notes = append(notes, "httpfs2: `httpfs2 -f URL MOUNTPOINT` of "+file+", served by "+by+"; no cache, nothing verified, so cold rows only; first byte from its mountpoint appearing")
	}
	return notes
}

// jsonReport is the -json file, for tracking results across versions.
type jsonReport struct {
	Time   time.Time         `json:"time"`
	Commit string            `json:"commit,omitempty"`
	Dirty  bool              `json:"dirty"`
	Config map[string]any    `json:"config"`
	Host   map[string]any    `json:"host"`
	Tools  map[string]string `json:"tools"`
	Rows   []jsonRow         `json:"rows"`
	// Profile is where the mount's CPU went in the profiled cold read.
	Profile *jsonProfile `json:"coldSeqProfile,omitempty"`
	Notes   []string     `json:"notes"`
	Phases  []phase      `json:"phases"`
}

type jsonRow struct {
	Name     string               `json:"name"`
	Unit     string               `json:"unit"`
	Baseline string               `json:"baseline,omitempty"`
	Target   string               `json:"target,omitempty"`
	Met      string               `json:"met,omitempty"`
	Median   map[string]*float64  `json:"median"` // piecefs, baseline, rclone, httpfs2; null when not measured
	Ratio    *float64             `json:"ratio"`
	Samples  map[string][]float64 `json:"samples"`
	RSSMiB   map[string]float64   `json:"peakRssMiB,omitempty"` // the largest VmRSS sampled
	HWMMiB   map[string]float64   `json:"hwmMiB,omitempty"`     // VmHWM
	P99Ms    map[string]float64   `json:"p99Ms,omitempty"`      // random reads: median of the runs' p99 latency
	Note     string               `json:"note,omitempty"`
}

func (b *bench) writeJSON(ctx context.Context, t *table, notes []string) error {
	commit, dirty := gitState(ctx, b.root)
	rep := jsonReport{
		Time: time.Now().UTC(), Commit: commit, Dirty: dirty,
		Config: map[string]any{"short": b.cfg.short, "runs": b.cfg.runs, "bigBytes": b.cfg.bigSize, "files": b.cfg.files,
			"ttfbGiB": b.cfg.ttfbGiB, "randomSeconds": b.cfg.fioRuntime.Seconds(), "memoryCacheBytes": b.cfg.memoryCache,
			"origin": b.origin.kind},
		Host:  hostInfo(),
		Tools: map[string]string{"nginx": b.tools.nginx, "fio": b.tools.fio, "rclone": b.tools.rclone, "httpfs2": b.tools.httpfs2},
		Notes: notes, Phases: b.phases,
	}
	for _, r := range t.rows() {
		rep.Rows = append(rep.Rows, toJSON(r))
	}
	if b.prof != nil {
		rep.Profile = b.prof.toJSON()
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(b.cfg.jsonPath, append(data, '\n'), 0o644)
}

func toJSON(r *row) jsonRow {
	j := jsonRow{Name: r.name, Unit: r.unit, Baseline: r.baseline, Target: r.target(), Met: r.met(),
		Ratio: number(r.ratio()), Note: r.note,
		Median: map[string]*float64{}, Samples: map[string][]float64{},
		RSSMiB: map[string]float64{}, HWMMiB: map[string]float64{}, P99Ms: map[string]float64{}}
	for c := range numCols {
		j.Median[colName[c]] = number(r.median(c))
		j.Samples[colName[c]] = r.samples[c]
		if len(r.p99[c]) > 0 {
			j.P99Ms[colName[c]] = median(r.p99[c])
		}
		if m := r.mem[c]; m.peakRSS > 0 {
			j.RSSMiB[colName[c]], j.HWMMiB[colName[c]] = mib(m.peakRSS), mib(m.hwm)
		}
	}
	return j
}

// number is v for JSON: nil when it is not a finite number.
func number(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// gitState reads the commit of the module and whether the tree differs
// from it, without taking the index lock (GIT_OPTIONAL_LOCKS=0), so that
// it never changes git state.
func gitState(ctx context.Context, root string) (string, bool) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	commit, err := git("rev-parse", "HEAD")
	if err != nil {
		return "", false
	}
	status, err := git("status", "--porcelain", "--untracked-files=no")
	return commit, err == nil && status != ""
}

func hostInfo() map[string]any {
	h := map[string]any{"cpus": runtime.NumCPU(), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h["kernel"] = strings.TrimSpace(string(b))
	}
	if avail, err := procMeminfo(); err == nil {
		h["memAvailableBytes"] = avail
	}
	return h
}

// firstLine is the first line of a possibly long error message.
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
