package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// TestMirrorsFailOver mounts through an origin that serves corrupt pieces,
// block tables and manifests, then three mirrors: one down, one that
// accepts connections and never answers, and a good one (nginx). Every
// file reads back correct, every read within the fetch timeout (a read
// that is not fails with EIO), and the metrics show each bad origin's
// failures, the failovers, and the verification failures.
func TestMirrorsFailOver(t *testing.T) {
	corrupt := corruptOrigin(t, fx.out)
	down := downURL(t)
	stalled := stallingURL(t)
	good := startNginxOrigin(t, fx.out)
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	metrics := fmt.Sprintf("127.0.0.1:%d", ports[0])
	m := startMount(t, corrupt, t.TempDir(),
		"--mirror", down, "--mirror", stalled, "--mirror", good,
		"--fetch-timeout", "20s", "--stall-timeout", "1s", "--metrics-addr", metrics)
	checkContents(t, m.dir)

	body := metricsScrape(t, "http://"+metrics+"/metrics")
	for _, bad := range []string{corrupt, down, stalled} {
		if v := metricValue(t, body, fmt.Sprintf(`piecefs_origin_failures_total{origin=%q}`, bad)); v < 1 {
			t.Errorf("origin %s: %v failures in the metrics, want at least 1", bad, v)
		}
	}
	if v := metricValue(t, body, fmt.Sprintf(`piecefs_origin_bytes_total{origin=%q}`, good)); v <= 0 {
		t.Errorf("the good mirror sent %v bytes, want the tree's", v)
	}
	if v := metricValue(t, body, fmt.Sprintf(`piecefs_origin_up{origin=%q}`, good)); v != 1 {
		t.Errorf("the good mirror is not up: %v", v)
	}
	if v := metricValue(t, body, "piecefs_failovers_total"); v < 3 {
		t.Errorf("piecefs_failovers_total = %v, want at least one per bad origin", v)
	}
	if v := metricValue(t, body, "piecefs_verification_failures_total"); v < 1 {
		t.Errorf("piecefs_verification_failures_total = %v, want the corrupt origin's", v)
	}
	m.Stop(t)
}

// metricValue returns the value of the sample named exactly name (with its
// labels) in an exposition, failing the test if there is none.
func metricValue(t *testing.T, body, name string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the exposition has no sample %s", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("sample %s: %v", name, err)
	}
	return v
}

// corruptOrigin serves dir with one byte in every 4 KiB flipped in each
// piece, block table and manifest it sends, Range requests included, and
// tags as they are (a tag cannot be verified; it is the origin's word).
func corruptOrigin(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel := filepath.Clean(strings.TrimPrefix(r.URL.Path, "/"))
		if strings.HasPrefix(rel, "..") {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if !strings.HasPrefix(rel, "tags/") {
			for i := 0; i < len(b); i += 4096 {
				b[i] ^= 0x20
			}
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// downURL is a URL on 127.0.0.1 where nothing listens.
func downURL(t *testing.T) string {
	t.Helper()
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return harness.LoopbackURL(ports[0])
}

// stallingURL is a URL on 127.0.0.1 whose server accepts connections,
// reads the requests and never answers.
func stallingURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn // held open, unanswered, until the test ends
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}
