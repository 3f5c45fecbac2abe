package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// TestMain lets the test binary serve the FUSE ceiling too: the benchmark
// re-executes its own binary for it.
func TestMain(m *testing.M) {
	if code, ok := childMain(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestShort runs the tiny mode end to end, so that `go test ./...` keeps
// every path of the benchmark working. It checks the shape of the results,
// never the speeds.
func TestShort(t *testing.T) {
	if err := requireRoot(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	// Smaller than -short still, to keep `go test -race ./...` quick: every
	// path runs all the same.
	args := []string{"-short", "-big", "16MiB", "-files", "200", "-fio-runtime", "250ms"}
	if os.Getenv("CI") == "true" {
		// CI installs every tool (.ci/run): a missing one, or a peer that
		// fails, must fail the test rather than leave a column empty.
		args = append(args, "-require-tools")
	}
	cfg, err := parseFlags(append(args, "-json", filepath.Join(t.TempDir(), "bench.json")), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", t.TempDir())
	var out, log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, cfg, &out, &log); err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	t.Logf("table:\n%s", out.String())
	checkJSON(t, cfg.jsonPath, newTable(cfg).rows())
	if left, err := harness.MountsUnder(os.Getenv("TMPDIR")); err != nil || len(left) > 0 {
		t.Errorf("still mounted after the run: %q (%v)", left, err)
	}
	if entries, _ := os.ReadDir(os.Getenv("TMPDIR")); len(entries) != 0 {
		t.Errorf("the temporary directory was not removed: %d entries left in %s", len(entries), os.Getenv("TMPDIR"))
	}
}

// checkJSON checks that the report has every row of the table, in order,
// with piecefs and (where the row has one) the baseline measured.
func checkJSON(t *testing.T, path string, want []*row) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep jsonReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got := len(rep.Rows); got != len(want) {
		t.Fatalf("report has %d rows, want %d", got, len(want))
	}
	for i, r := range rep.Rows {
		if r.Name != want[i].name {
			t.Errorf("row %d is %q, want %q", i, r.Name, want[i].name)
		}
		if v := r.Median["piecefs"]; v == nil || *v <= 0 {
			t.Errorf("row %q: piecefs median %v, want a positive number", r.Name, v)
		}
		if v := r.Median["baseline"]; want[i].baseline != "" && (v == nil || *v <= 0) {
			t.Errorf("row %q: baseline median %v, want a positive number", r.Name, v)
		}
		if strings.Contains(r.Name, "RSS") && len(r.Samples["piecefs"]) != 1 {
			t.Errorf("row %q: %d samples, want one peak", r.Name, len(r.Samples["piecefs"]))
		}
	}
}
