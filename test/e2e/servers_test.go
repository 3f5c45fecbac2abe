package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// originTimeout bounds how long an origin may take to serve.
const originTimeout = 20 * time.Second

// startServeOrigin runs `piecefs serve` on a free port for dir and returns
// its base URL.
func startServeOrigin(t *testing.T, dir string) string {
	t.Helper()
	p := startProc(t, fx.bin, "serve", "--addr", "127.0.0.1:0", dir)
	t.Cleanup(func() { stopProc(p) })
	line, err := p.firstLine(originTimeout)
	if err != nil {
		t.Fatalf("piecefs serve: %v", err)
	}
	served, url, ok := harness.ParseServeLine(line)
	if !ok {
		t.Fatalf("piecefs serve printed %q, want %q", line, "serving "+dir+" at http://127.0.0.1:PORT")
	}
	if served != dir {
		t.Errorf("piecefs serve printed directory %q, want %q", served, dir)
	}
	return url
}

// startNginxOrigin runs nginx with dir as its document root and returns
// its base URL.
func startNginxOrigin(t *testing.T, dir string) string {
	t.Helper()
	requireNginx(t)
	n, err := harness.StartNginx(timeoutCtx(t, originTimeout), harness.NginxOptions{
		Dir:   t.TempDir(),
		Sites: []harness.NginxSite{{Root: dir, ReadyPath: "/tags/latest"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background(), 10*time.Second) })
	return n.URLs[0]
}
