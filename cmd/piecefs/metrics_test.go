package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/piecefs/piecefs/cache"
	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/piece"
	"github.com/piecefs/piecefs/store"
)

type fixedFetch fetch.Stats

func (f fixedFetch) Stats() fetch.Stats { return fetch.Stats(f) }

type fixedReads piece.Stats

func (r fixedReads) Stats() piece.Stats { return piece.Stats(r) }

type fixedDisk store.Stats

func (d fixedDisk) Stats() store.Stats { return store.Stats(d) }

// scrape serves src on a free port, lets observe feed the histogram, and
// returns one scrape of /metrics.
func scrape(t *testing.T, src metricSources, observe func(func(string, time.Duration, error))) string {
	t.Helper()
	m, err := listenMetrics("127.0.0.1:0", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if observe != nil {
		observe(m.observer())
	}
	stop := m.serve(src)
	defer stop()
	resp, err := http.Get("http://" + m.ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s, %v", resp.Status, err)
	}
	return string(body)
}

func testSources(mem *cache.Cache[piece.Key]) metricSources {
	return metricSources{
		Fetch: fixedFetch{Requests: 12, Pieces: 3, Ranges: 4, Bytes: 5000, Retries: 2, VerifyFailures: 1, InFlight: 1, Failovers: 3,
			Origins: []fetch.OriginStats{
				{URL: "http://user:xxxxx@127.0.0.1:8080/models", Requests: 10, Bytes: 4000, Healthy: true},
				{URL: "http://mirror.example/models", Requests: 2, Bytes: 1000, Failures: 2},
			}},
		Reads:  fixedReads{Reads: [3]int64{7, 2, 3}, Bytes: [3]int64{700, 200, 300}, ReadaheadFetches: 5, ReadaheadHits: 4},
		Memory: mem,
		Disk: fixedDisk{Bytes: 3 << 20, MaxBytes: 8 << 20, Pieces: 3, Partial: 2, PinnedBytes: 1 << 20, PinnedPieces: 1, Pins: 1,
			Evictions: 6, EvictedBytes: 6 << 20},
		Manifest: "sha256:" + strings.Repeat("ab", 32), Origin: "http://user:secret@127.0.0.1:8080/models",
	}
}

// TestMetricsExposition: every Stats field is exported under its name, the
// histogram is fed by the fetcher's Observe hook, the origin's password
// is hidden, and promtool accepts the page.
func TestMetricsExposition(t *testing.T) {
	mem := cache.New[piece.Key](1000)
	mem.Add(piece.Key{Unit: 1}, make([]byte, 600))
	mem.Add(piece.Key{Unit: 2}, make([]byte, 600)) // evicts unit 1
	body := scrape(t, testSources(mem), func(observe func(string, time.Duration, error)) {
		observe("piece", 3*time.Millisecond, nil)
		observe("range", 40*time.Second, errors.New("timeout"))
	})
	for _, want := range []string{
		`piecefs_reads_total{tier="memory"} 7`,
		`piecefs_reads_total{tier="network"} 3`,
		`piecefs_read_bytes_total{tier="disk"} 200`,
		`piecefs_readahead_fetches_total 5`,
		`piecefs_readahead_hits_total 4`,
		`piecefs_origin_requests_total{origin="http://user:xxxxx@127.0.0.1:8080/models"} 10`,
		`piecefs_origin_requests_total{origin="http://mirror.example/models"} 2`,
		`piecefs_origin_bytes_total{origin="http://mirror.example/models"} 1000`,
		`piecefs_origin_failures_total{origin="http://mirror.example/models"} 2`,
		`piecefs_origin_up{origin="http://mirror.example/models"} 0`,
		`piecefs_origin_up{origin="http://user:xxxxx@127.0.0.1:8080/models"} 1`,
		`piecefs_failovers_total 3`,
		`piecefs_fetches_total{kind="piece"} 3`,
		`piecefs_fetches_total{kind="range"} 4`,
		`piecefs_fetch_retries_total 2`,
		`piecefs_verification_failures_total 1`,
		`piecefs_fetches_in_flight 1`,
		`piecefs_cache_bytes{tier="memory"} 600`,
		`piecefs_cache_bytes{tier="disk"} 3.145728e+06`,
		`piecefs_cache_limit_bytes{tier="memory"} 1000`,
		`piecefs_cache_entries{tier="disk"} 3`,
		`piecefs_cache_partial_pieces 2`,
		`piecefs_evictions_total{tier="memory"} 1`,
		`piecefs_evicted_bytes_total{tier="memory"} 600`,
		`piecefs_evictions_total{tier="disk"} 6`,
		`piecefs_pinned_bytes 1.048576e+06`,
		`piecefs_pinned_pieces 1`,
		`piecefs_pins 1`,
		`piecefs_info{manifest="sha256:abab`,
		`origin="http://user:xxxxx@127.0.0.1:8080/models"} 1`,
		`piecefs_fetch_duration_seconds_bucket{kind="piece",result="ok",le="0.005"} 1`,
		`piecefs_fetch_duration_seconds_bucket{kind="range",result="error",le="30"} 0`,
		`piecefs_fetch_duration_seconds_count{kind="range",result="error"} 1`,
		`go_goroutines `,
		`process_open_fds `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the exposition lacks %q", want)
		}
	}
	if strings.Contains(body, "secret") {
		t.Error("the exposition shows the origin's password")
	}
	promtoolCheck(t, body)
}

// TestMetricsNoMemoryTier: with --memory-cache 0 there is no memory tier
// to report, rather than one of size 0 that would read as unbounded.
func TestMetricsNoMemoryTier(t *testing.T) {
	for name, mem := range map[string]*cache.Cache[piece.Key]{"disabled": cache.New[piece.Key](0), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			src := testSources(mem)
			if mem == nil {
				src.Memory = nil
			}
			body := scrape(t, src, nil)
			if strings.Contains(body, `piecefs_cache_bytes{tier="memory"}`) || !strings.Contains(body, `piecefs_cache_bytes{tier="disk"}`) {
				t.Errorf("want the disk tier alone in piecefs_cache_bytes:\n%s", grepLines(body, "piecefs_cache_bytes"))
			}
		})
	}
}

// TestMetricsBadAddress fails at once, before anything is mounted, and no
// address serves nothing.
func TestMetricsBadAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, addr := range []string{"127.0.0.1:notaport", busy.Addr().String()} {
		if m, err := listenMetrics(addr, quietLog()); err == nil {
			m.Close()
			t.Errorf("listenMetrics(%q) succeeded", addr)
		}
	}
	m, err := listenMetrics("", quietLog())
	if m != nil || err != nil {
		t.Fatalf("listenMetrics(\"\") = %v, %v; want nil, nil", m, err)
	}
	if m.observer() != nil {
		t.Error("without metrics the fetcher is given an Observe hook")
	}
	m.serve(testSources(nil))()
	m.Close()
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// promtoolCheck runs `promtool check metrics` (Debian's prometheus
// package) on an exposition: required with CI=true, skipped elsewhere when
// missing.
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool is not installed (required with CI=true): %v", err)
		}
		t.Skipf("promtool is not installed: %v", err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}
