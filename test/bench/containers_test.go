package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// TestCtrTable checks the container mode's rows without running anything:
// the baselines finish fills in, the targets, and the notes.
func TestCtrTable(t *testing.T) {
	tb := newCtrTable()
	for _, s := range []float64{0.20, 0.22, 0.21} {
		tb.local = append(tb.local, startTimes{output: time.Duration(s * float64(time.Second))})
	}
	tb.cold.start.samples[colPiecefs] = []float64{0.9, 0.8, 1.0}
	tb.prefetch.start.samples[colPiecefs] = []float64{0.30, 0.31, 0.40} // 1.48× local
	tb.warm.start.samples[colPiecefs] = []float64{0.26, 0.25, 0.30}     // 1.24× local
	tb.cold.bytes.samples[colPiecefs] = []float64{25, 25, 26}           // 2.5× what the start read
	tb.prefetch.bytes.samples[colPiecefs] = []float64{19, 20, 21}       // 2×
	tb.warm.bytes.samples[colPiecefs] = []float64{0, 0, 0}
	tb.cold.times = []startTimes{{ready: 150 * time.Millisecond, output: 900 * time.Millisecond, runc: 700 * time.Millisecond}}
	tb.cold.ready, tb.cold.out = []float64{1.25}, []float64{24}
	tb.finish(ctrInfo{imageBytes: 200 << 20, manifest: 1 << 20, readBytes: 10 << 20})

	wantMet := map[*row]string{
		tb.cold.start: "", tb.prefetch.start: "yes", tb.warm.start: "NO",
		tb.cold.bytes: "NO", tb.prefetch.bytes: "yes", tb.warm.bytes: "",
	}
	for r, want := range wantMet {
		if got := r.met(); got != want {
			t.Errorf("%s: met %q, want %q (ratio %.2f)", r.name, got, want, r.ratio())
		}
	}
	if got := tb.cold.start.median(colBase); got != 0.21 {
		t.Errorf("local baseline %v, want the median 0.21", got)
	}
	if got := tb.cold.bytes.ratio(); got != 2.5 {
		t.Errorf("cold bytes ratio %v, want 2.5", got)
	}
	if got := len(tb.rows()); got != 6 {
		t.Errorf("%d rows, want 6", got)
	}
	for _, want := range []string{"ready line (bundle written) 0.150 s", "output 0.900 s", "runc to output 0.700 s"} {
		if !strings.Contains(tb.cold.start.note, want) {
			t.Errorf("cold start note %q lacks %q", tb.cold.start.note, want)
		}
	}
	for _, want := range []string{"12% of the image's 200.0 MiB", "1.25 MiB by the ready line", "24.0 MiB by the output"} {
		if !strings.Contains(tb.cold.bytes.note, want) {
			t.Errorf("cold bytes note %q lacks %q", tb.cold.bytes.note, want)
		}
	}
	if tb.warm.start.note != "" {
		t.Errorf("warm start note %q without timed runs, want none", tb.warm.start.note)
	}
}

// TestCtrTableUnmeasured: without local runs or a record the targets are
// unknown, not met or missed.
func TestCtrTableUnmeasured(t *testing.T) {
	tb := newCtrTable()
	tb.prefetch.start.samples[colPiecefs] = []float64{0.3}
	tb.prefetch.bytes.samples[colPiecefs] = []float64{3}
	tb.finish(ctrInfo{})
	for _, r := range []*row{tb.prefetch.start, tb.prefetch.bytes} {
		if got := r.met(); got != "?" {
			t.Errorf("%s: met %q, want ?", r.name, got)
		}
	}
	var b strings.Builder
	printCtrTable(&b, tb.rows())
	for _, l := range strings.Split(b.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "origin bytes, piecefs cold, prefetch list (MiB)"); ok && strings.Fields(rest)[0] != "3.0" {
			t.Errorf("a tenth of a MiB: %q", l)
		}
	}
}

// TestWarmNote: the note splits a warm start into the exec floor, the
// mount's own work and runc, beside the local start; without runs of each
// kind there is none.
func TestWarmNote(t *testing.T) {
	tb := newCtrTable()
	if n := tb.warmNote(20 << 20); n != "" {
		t.Errorf("a note without runs: %q", n)
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tb.exec = []float64{0.030, 0.020, 0.040}
	tb.local = []startTimes{{output: ms(100)}, {output: ms(110)}, {output: ms(90)}}
	tb.warm.times = []startTimes{{ready: ms(70), runc: ms(120)}, {ready: ms(80), runc: ms(130)}, {ready: ms(60), runc: ms(110)}}
	n := tb.warmNote(20 << 20)
	for _, want := range []string{"(20.0 MiB)", "dropped 0.030 s", "ready line 0.040 s (ready 0.070 s", "0.120 s on the mount against 0.100 s on the local disk (1.20×)", "allows 0.120 s", "come to 1.50× local"} {
		if !strings.Contains(n, want) {
			t.Errorf("note %q lacks %q", n, want)
		}
	}
}

// TestWithRoot: the local runs take piecefs mount --bundle's spec with another
// root and nothing else changed.
func TestWithRoot(t *testing.T) {
	spec := []byte(`{"ociVersion":"1.0.2","root":{"path":"/mnt/x","readonly":true},"process":{"args":["/usr/bin/python3"]}}`)
	b, err := withRoot(spec, "/var/tmp/rootfs")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Root struct {
			Path     string
			Readonly bool
		}
		Process struct{ Args []string }
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Root.Path != "/var/tmp/rootfs" || !got.Root.Readonly || len(got.Process.Args) != 1 {
		t.Errorf("withRoot: %s", b)
	}
	for _, bad := range [][]byte{nil, []byte(`{}`), []byte(`[`)} {
		if _, err := withRoot(bad, "/r"); err == nil {
			t.Errorf("withRoot(%q) succeeded", bad)
		}
	}
}

// TestContainersFlags: -containers picks its own default of runs and
// leaves the default run as it was.
func TestContainersFlags(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		containers bool
		runs       int
	}{
		{nil, false, 3},
		{[]string{"-short"}, false, 1},
		{[]string{"-containers"}, true, ctrRuns},
		{[]string{"-containers", "-runs", "2"}, true, 2},
	} {
		cfg, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if cfg.containers != tc.containers || cfg.runs != tc.runs || cfg.rootfsDir != "/var/tmp/piecefs-bench-rootfs" {
			t.Errorf("%q: containers %v, runs %d, rootfs-dir %q", tc.args, cfg.containers, cfg.runs, cfg.rootfsDir)
		}
	}
}

// TestParsePrefetchLine reads the mount's summary of its prefetch, and
// nothing else.
func TestParsePrefetchLine(t *testing.T) {
	l := `time="2026-12-01T20:17:53Z" level=info msg="prefetch done" cached_bytes=131072 component=prefetch failed=0 fetched_bytes=10073044 fetches=68 list="sha256:57b6" ranges=79 seconds=0.468909636`
	p, ok := parsePrefetchLine(l)
	if want := (prefetchRun{done: true, seconds: 0.468909636, fetched: 10073044, fetches: 68}); !ok || p != want {
		t.Errorf("parsePrefetchLine = %+v, %v; want %+v", p, ok, want)
	}
	if p, ok := parsePrefetchLine(`level=info msg="prefetch stopped" fetched_bytes=5 seconds=1`); !ok || p.done || p.fetched != 5 {
		t.Errorf("a stopped prefetch: %+v, %v", p, ok)
	}
	if _, ok := parsePrefetchLine(`level=info msg="mounted" seconds=1`); ok {
		t.Error("another line was read as the prefetch's")
	}
	n := prefetchNote([]prefetchRun{{done: true, seconds: 0.2, fetched: 10 << 20, fetches: 60}, {seconds: 0.4, fetched: 8 << 20, fetches: 50}, {done: true, seconds: 0.3, fetched: 10 << 20, fetches: 70}})
	if want := "(medians of 3): 10.0 MiB in 60 fetches, done 0.300 s after it started (0.200–0.400 s); 1 stopped"; !strings.Contains(n, want) {
		t.Errorf("prefetchNote = %q, want it to contain %q", n, want)
	}
}
