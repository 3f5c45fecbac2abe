package fetch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
	"github.com/piecefs/piecefs/meta"
)

// TestRangeRealServers fetches block spans from real static servers: nginx,
// which answers Range with 206, and Python's http.server, which ignores
// Range and sends the whole piece. Both must give the span's verified bytes.
func TestRangeRealServers(t *testing.T) {
	p, data, table := blockPiece()
	root := t.TempDir()
	for rel, b := range map[string][]byte{meta.PiecePath(p.Digest): data, meta.BlocksPath(p.Blocks): table} {
		name := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	servers := map[string]func(t *testing.T) string{
		"nginx": func(t *testing.T) string {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			n, err := harness.StartNginx(ctx, harness.NginxOptions{Dir: t.TempDir(),
				Sites: []harness.NginxSite{{Root: root, ReadyPath: "/" + meta.BlocksPath(p.Blocks)}}})
			if err != nil {
				missingTool(t, "nginx: %v", err)
			}
			t.Cleanup(func() { _ = n.Stop(context.Background(), 5*time.Second) })
			return n.URLs[0]
		},
		"python http.server": func(t *testing.T) string {
			py, err := exec.LookPath("python3")
			if err != nil {
				missingTool(t, "python3: %v", err)
			}
			ports, err := harness.FreePorts(1)
			if err != nil {
				t.Fatal(err)
			}
			proc, err := harness.Start(harness.Command{Path: py, Args: []string{"-m", "http.server", "--bind", "127.0.0.1", "--directory", root, fmt.Sprint(ports[0])}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = proc.Stop(context.Background(), 5*time.Second) })
			url := harness.LoopbackURL(ports[0])
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := harness.WaitHTTP(ctx, url+"/"+meta.BlocksPath(p.Blocks), proc); err != nil {
				t.Fatal(err)
			}
			return url
		},
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			f := newFetcher(t, start(t), Options{})
			if _, err := f.Blocks(context.Background(), p, testBlock); err != nil {
				t.Fatal(err)
			}
			for _, sp := range [][2]int{{0, 0}, {1, 3}, {4, 4}, {0, 4}} {
				s := Span{Piece: p, BlockSize: testBlock, First: sp[0], Last: sp[1]}
				got, err := fetchSpanOf(f, s)
				off, n := s.Bytes()
				if err != nil || !bytes.Equal(got, data[off:off+n]) {
					t.Fatalf("blocks %d-%d: %d bytes, %v; want bytes [%d, +%d)", sp[0], sp[1], len(got), err, off, n)
				}
			}
		})
	}
}

// missingTool fails the test on CI, where every tool must be there, and
// skips it elsewhere.
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing on CI: "+format, args...)
	}
	t.Skipf("missing: "+format, args...)
}
