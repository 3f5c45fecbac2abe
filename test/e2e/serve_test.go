package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// immutable is the Cache-Control that piece responses carry: a piece's
// name is its hash, so it can never change.
const immutable = "public, max-age=31536000, immutable"

// TestServeOrigin mounts the shared tree from `piecefs serve` and checks
// the caching headers it sends.
func TestServeOrigin(t *testing.T) {
	requireTool(t, "curl")
	url := startServeOrigin(t, fx.out)

	piece := loadManifest(t).Pieces[0].Digest
	h := curlHeaders(t, url+"/"+meta.PiecePath(piece))
	if got := h.Get("Cache-Control"); got != immutable {
		t.Errorf("Cache-Control of a piece: got %q, want %q", got, immutable)
	}
	// A tag moves when a new tree is published under it.
	if got := curlHeaders(t, url+"/"+meta.TagPath("latest")).Get("Cache-Control"); strings.Contains(got, "immutable") {
		t.Errorf("Cache-Control of a tag: got %q; a tag is mutable", got)
	}

	m := startMount(t, url, t.TempDir())
	runChecks(t, m.dir, sampleChecks)
	m.Stop(t)
}

// curlHeaders fetches url's response headers with curl -sI and checks the
// status is 200.
func curlHeaders(t *testing.T, url string) http.Header {
	t.Helper()
	ls := lines(mustRun(t, "", "curl", "-sSI", "--max-time", "10", url))
	if len(ls) == 0 || !strings.Contains(ls[0], " 200") {
		t.Fatalf("curl -sI %s: status line %q, want 200", url, ls)
	}
	h := http.Header{}
	for _, l := range ls[1:] {
		if k, v, ok := strings.Cut(strings.TrimRight(l, "\r"), ":"); ok {
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return h
}
