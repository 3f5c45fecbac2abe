package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// TestMetricsPrometheus mounts with --metrics-addr, reads files, checks the
// exposition with promtool, and has a real Prometheus (Debian's package)
// scrape the mount every second until its query API returns the bytes read,
// by tier, with the network's positive.
func TestMetricsPrometheus(t *testing.T) {
	requireTool(t, "promtool")
	requireTool(t, "prometheus")
	ports, err := harness.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("127.0.0.1:%d", ports[0])
	m := startMount(t, startServeOrigin(t, fx.out), t.TempDir(), "--metrics-addr", target)
	compareHashes(t, m.dir, []string{fx.tree.small[0], fx.tree.small[len(fx.tree.small)/2]})

	body := metricsScrape(t, "http://"+target+"/metrics")
	if !strings.Contains(body, `piecefs_read_bytes_total{tier="network"} `) || !strings.Contains(body, "piecefs_info{") {
		t.Errorf("the exposition lacks piecefs_read_bytes_total{tier=\"network\"} or piecefs_info:\n%s", body)
	}
	promtoolCheck(t, body)

	prom := startPrometheus(t, target, ports[1])
	var got []promSample
	waitFor(t, time.Minute, "Prometheus to return piecefs_read_bytes_total from the network", func() bool {
		got = promQuery(t, prom, "piecefs_read_bytes_total")
		for _, s := range got {
			if s.Metric["tier"] == "network" && s.Value > 0 {
				return true
			}
		}
		return false
	})
	if len(got) != 3 {
		t.Errorf("piecefs_read_bytes_total: %d series, want one for each tier: %+v", len(got), got)
	}
	for _, name := range []string{"piecefs_origin_bytes_total", `piecefs_fetches_total{kind="range"}`, "piecefs_info"} {
		if s := promQuery(t, prom, name); len(s) == 0 || s[0].Value <= 0 {
			t.Errorf("Prometheus has %s = %+v, want a positive value", name, s)
		}
	}
	m.Stop(t)
}

// TestMetricsBadAddress: a --metrics-addr that cannot be listened on fails
// the mount before it mounts, naming the flag.
func TestMetricsBadAddress(t *testing.T) {
	stderr := mountFails(t, startServeOrigin(t, fx.out), t.TempDir(), "--metrics-addr", "127.0.0.1:notaport")
	if !strings.Contains(stderr, "--metrics-addr") {
		t.Errorf("stderr does not name --metrics-addr:\n%s", tail([]byte(stderr)))
	}
}

// metricsScrape returns one scrape of url.
func metricsScrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(b)
}

// promtoolCheck runs `promtool check metrics` on an exposition.
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "metrics.txt")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runTool(toolTimeout, "", "sh", "-c", `promtool check metrics < "$1"`, "sh", path)
	if out.err != nil {
		t.Errorf("promtool check metrics: %v\n%s%s", out.err, out.stdout, out.stderr)
	}
}

// startPrometheus runs Prometheus on port, scraping target every second,
// with its configuration and storage in temporary directories, and returns
// its base URL. A cleanup stops it by its PID.
func startPrometheus(t *testing.T, target string, port int) string {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	yml := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: piecefs\n    static_configs:\n      - targets: ['%s']\n", target)
	if err := os.WriteFile(config, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	p := startProc(t, "prometheus", "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen)
	t.Cleanup(func() {
		p.signal(syscall.SIGTERM)
		if !p.wait(20 * time.Second) {
			t.Errorf("prometheus still running 20s after SIGTERM")
		}
	})
	base := harness.LoopbackURL(port)
	if err := harness.WaitHTTP(timeoutCtx(t, time.Minute), base+"/-/ready", p.Process); err != nil {
		t.Fatal(err)
	}
	return base
}

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string
	Value  float64
}

// promQuery asks Prometheus at base for the instant vector of query.
func promQuery(t *testing.T, base, query string) []promSample {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any // time, "value"
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || answer.Status != "success" {
		t.Fatalf("query %s: %s, %v %s", query, resp.Status, err, answer.Error)
	}
	var out []promSample
	for _, r := range answer.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %s: value %v: %v", query, r.Value[1], err)
		}
		out = append(out, promSample{Metric: r.Metric, Value: v})
	}
	return out
}
