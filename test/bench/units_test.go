package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"65536", 65536, false},
		{"64MiB", 64 << 20, false},
		{"2GiB", 2 << 30, false},
		{" 3 G ", 3 << 30, false},
		{"1KiB", 1024, false},
		{"", 0, true},
		{"-1", 0, true},
		{"1.5GiB", 0, true},
		{"99999999TiB", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for _, tt := range []struct {
		in   int64
		want string
	}{{2 << 30, "2GiB"}, {64 << 20, "64MiB"}, {1536, "1536B"}, {3 << 10, "3KiB"}} {
		if got := formatSize(tt.in); got != tt.want {
			t.Errorf("formatSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRowMedianAndTarget(t *testing.T) {
	cold := func() *row {
		return &row{conds: []cond{atLeast("≥ 0.5× curl", colBase, 0.5), atLeast("≥ 2.5× rclone", colRclone, 2.5)}}
	}
	tests := []struct {
		name       string
		p, b, rc   []float64
		wantMedian float64
		wantMet    string
	}{
		{"both met", []float64{300, 100, 200}, []float64{300}, []float64{50}, 200, "yes"},
		{"even count averages", []float64{100, 300}, []float64{300}, []float64{10}, 200, "yes"},
		{"curl part fails", []float64{100}, []float64{300}, []float64{10}, 100, "NO"},
		{"rclone part fails", []float64{200}, []float64{300}, []float64{100}, 200, "NO"},
		{"no rclone", []float64{200}, []float64{300}, nil, 200, "?"},
		{"a failure wins over unknown", []float64{100}, []float64{300}, nil, 100, "NO"},
		{"nothing measured", nil, nil, nil, math.NaN(), "?"},
	}
	for _, tt := range tests {
		r := cold()
		r.samples = [numCols][]float64{tt.p, tt.b, tt.rc}
		if got := r.median(colPiecefs); got != tt.wantMedian && !(math.IsNaN(got) && math.IsNaN(tt.wantMedian)) {
			t.Errorf("%s: median = %v, want %v", tt.name, got, tt.wantMedian)
		}
		if got := r.met(); got != tt.wantMet {
			t.Errorf("%s: met = %q, want %q", tt.name, got, tt.wantMet)
		}
	}
}

func TestTimeTargets(t *testing.T) {
	tests := []struct {
		name string
		c    cond
		p, o float64
		want bool
	}{
		{"tar within 1.5× local", atMost("", colBase, 1.5), 1.4, 1, true},
		{"tar over 1.5× local", atMost("", colBase, 1.5), 1.6, 1, false},
		{"8× faster than rclone", fasterThan("", colRclone, 8), 1, 8, true},
		{"only 7× faster", fasterThan("", colRclone, 8), 1, 7, false},
		{"ttfb at the limit", atMostConst("", 5), 5, 0, true},
		{"iops under", atLeastConst("", 10000), 9999, 0, false},
	}
	for _, tt := range tests {
		if got := tt.c.ok(tt.p, tt.o); got != tt.want {
			t.Errorf("%s: ok(%v, %v) = %v, want %v", tt.name, tt.p, tt.o, got, tt.want)
		}
	}
}

func TestParseFio(t *testing.T) {
	out := `note: both iodepth >= 1 and synchronous I/O engine are selected
{"jobs": [{"error": 0, "read": {"iops": 12345.5, "clat_ns": {"percentile": {"99.000000": 250000}}}}]}`
	got, err := parseFio([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if want := (randResult{iops: 12345.5, p99: 250 * time.Microsecond}); got != want {
		t.Errorf("parseFio = %+v, want %+v", got, want)
	}
	for _, bad := range []string{`{"jobs": []}`, `{"jobs": [{"error": 5, "read": {"iops": 1}}]}`, `not json`} {
		if _, err := parseFio([]byte(bad)); err == nil {
			t.Errorf("parseFio(%q) succeeded, want an error", bad)
		}
	}
}

func TestDefaults(t *testing.T) {
	const defaultRootfs = "/var/tmp/piecefs-bench-rootfs"
	for _, tt := range []struct {
		args []string
		want config
	}{
		{nil, config{runs: 3, bigSize: 2 << 30, files: 20000, fioRuntime: 5 * time.Second, ttfbGiB: 20, memoryCache: 256 << 20, rootfsDir: defaultRootfs}},
		{[]string{"-short"}, config{short: true, runs: 1, bigSize: 64 << 20, files: 500, fioRuntime: time.Second, ttfbGiB: 20, memoryCache: 256 << 20, rootfsDir: defaultRootfs}},
		{[]string{"-short", "-runs", "2", "-big", "1GiB", "-ttfb-gib", "0"}, config{short: true, runs: 2, bigSize: 1 << 30, files: 500, fioRuntime: time.Second, memoryCache: 256 << 20, rootfsDir: defaultRootfs}},
	} {
		got, err := parseFlags(tt.args, nil)
		if err != nil {
			t.Fatalf("parseFlags(%q): %v", tt.args, err)
		}
		if got != tt.want {
			t.Errorf("parseFlags(%q) = %+v, want %+v", tt.args, got, tt.want)
		}
	}
	if _, err := parseFlags([]string{"-runs", "-1"}, nil); err == nil {
		t.Error("parseFlags(-runs -1) succeeded, want an error")
	}
}

// TestGoRandomRead runs the fio fallback on an ordinary file.
func TestGoRandomRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 64*randomBlock), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, depth := range depths {
		got, err := goRandomRead(context.Background(), path, depth, randomBlock, 50*time.Millisecond)
		if err != nil {
			t.Fatalf("depth %d: %v", depth, err)
		}
		if got.iops <= 0 || got.p99 <= 0 {
			t.Errorf("depth %d: %+v, want positive IOPS and p99", depth, got)
		}
	}
	small := filepath.Join(t.TempDir(), "small")
	if err := os.WriteFile(small, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := goRandomRead(context.Background(), small, 1, randomBlock, 10*time.Millisecond); err == nil {
		t.Error("goRandomRead of a file smaller than a block succeeded, want an error")
	}
}
