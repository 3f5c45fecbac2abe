package harness

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// requireNginx skips a test that needs nginx when it is missing, and
// fails it with CI=true: CI must not pass by testing nothing.
func requireNginx(t *testing.T) {
	t.Helper()
	if _, err := NginxPath(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (required with CI=true)", err)
		}
		t.Skip(err)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestNginx serves two directories, one with listings, from directories
// whose names need quoting in nginx's configuration.
func TestNginx(t *testing.T) {
	requireNginx(t)
	base := t.TempDir()
	out, src := filepath.Join(base, "out dir;x"), filepath.Join(base, `src "q"`)
	for _, d := range []string{filepath.Join(out, "tags"), filepath.Join(src, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "tags", "latest"), []byte("sha256:x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "nginx")
	n, err := StartNginx(timeout(t, 30*time.Second), NginxOptions{Dir: dir, Throughput: true, Sites: []NginxSite{
		{Root: out, ReadyPath: "/tags/latest"},
		{Root: src, Listing: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background(), KillWait) })
	if len(n.URLs) != 2 || !strings.HasPrefix(n.URLs[0], "http://127.0.0.1:") || n.URLs[0] == n.URLs[1] {
		t.Fatalf("URLs = %q, want two loopback URLs", n.URLs)
	}
	if code, body := httpGet(t, n.URLs[0]+"/tags/latest"); code != http.StatusOK || body != "sha256:x\n" {
		t.Errorf("GET /tags/latest: %d %q, want 200 %q", code, body, "sha256:x\n")
	}
	if code, _ := httpGet(t, n.URLs[0]+"/"); code != http.StatusForbidden {
		t.Errorf("GET / of the site without listings: %d, want 403", code)
	}
	if code, body := httpGet(t, n.URLs[1]+"/"); code != http.StatusOK || !strings.Contains(body, `href="sub/"`) {
		t.Errorf("GET / of the site with listings: %d %q, want 200 and a link to sub/", code, body)
	}
	if err := n.Stop(context.Background(), KillWait); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "error.log")); err != nil {
		t.Errorf("nginx wrote no error.log inside its directory: %v", err)
	}
}

// TestNginxNotReady asks for a ready path that does not exist: StartNginx
// must give up with ctx and leave no nginx running.
func TestNginxNotReady(t *testing.T) {
	requireNginx(t)
	dir := filepath.Join(t.TempDir(), "nginx")
	_, err := StartNginx(timeout(t, 500*time.Millisecond), NginxOptions{Dir: dir, Sites: []NginxSite{{Root: t.TempDir(), ReadyPath: "/missing"}}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("StartNginx with a missing ready path: %v, want an error wrapping context.DeadlineExceeded", err)
	}
	// nginx removes its pid file when it exits.
	if _, err := os.Stat(filepath.Join(dir, "nginx.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nginx.pid after a failed start: %v, want it removed by an exited nginx", err)
	}
}

// TestNginxAcceptRanges asks a site with AcceptRanges for a range: the 206
// must say "Accept-Ranges: bytes", which nginx leaves out by itself.
func TestNginxAcceptRanges(t *testing.T) {
	requireNginx(t)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := StartNginx(timeout(t, 30*time.Second), NginxOptions{Dir: filepath.Join(t.TempDir(), "nginx"),
		Sites: []NginxSite{{Root: root, ReadyPath: "/f", AcceptRanges: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background(), KillWait) })
	req, err := http.NewRequest(http.MethodGet, n.URLs[0]+"/f", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=3-4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Accept-Ranges"); resp.StatusCode != http.StatusPartialContent || string(body) != "34" || got != "bytes" {
		t.Errorf("GET /f, bytes=3-4: %d %q, Accept-Ranges %q; want 206 \"34\", Accept-Ranges \"bytes\"", resp.StatusCode, body, got)
	}
}

func TestNginxConf(t *testing.T) {
	o := NginxOptions{Dir: "/p", Sites: []NginxSite{{Root: "/a b"}, {Root: "/c", Listing: true}}}
	for _, tt := range []struct {
		throughput bool
		want, not  []string
	}{
		{false,
			[]string{"worker_connections 256;", "listen 127.0.0.1:1;", `root "/a b";`, "listen 127.0.0.1:2;", "autoindex on;", `pid "/p/nginx.pid";`, `scgi_temp_path "/p/scgi";`},
			[]string{"keepalive", "sendfile"}},
		{true,
			[]string{"worker_connections 1024;", "sendfile on;", "keepalive_requests 1000000;", "keepalive_timeout 300s;"},
			nil},
	} {
		o.Throughput = tt.throughput
		b, err := nginxConf(o, []int{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		conf := string(b)
		for _, w := range tt.want {
			if !strings.Contains(conf, w) {
				t.Errorf("Throughput %v: configuration lacks %q:\n%s", tt.throughput, w, conf)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(conf, w) {
				t.Errorf("Throughput %v: configuration has %q:\n%s", tt.throughput, w, conf)
			}
		}
		if strings.Count(conf, "autoindex") != 1 || strings.Count(conf, "listen 127.0.0.1:") != 2 || strings.Contains(conf, "listen 0") {
			t.Errorf("want two servers on 127.0.0.1, one with listings:\n%s", conf)
		}
		if strings.Contains(conf, "Accept-Ranges") {
			t.Errorf("no site asked for AcceptRanges, yet:\n%s", conf)
		}
	}
	o.Sites[1].AcceptRanges = true
	b, err := nginxConf(o, []int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if conf := string(b); strings.Count(conf, "add_header Accept-Ranges bytes;") != 1 {
		t.Errorf("one site with AcceptRanges: want one add_header:\n%s", conf)
	}
}

// TestNginxAccessLogAndCacheControl serves a piece and a tag with
// CacheControl and AccessLog: the headers must be those of `piecefs serve`
// and the log must count the body bytes of each answer.
func TestNginxAccessLogAndCacheControl(t *testing.T) {
	requireNginx(t)
	root := t.TempDir()
	for name, body := range map[string]string{"pieces/ab/ab01": "0123456789", "tags/latest": "sha256:x\n"} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := StartNginx(timeout(t, 30*time.Second), NginxOptions{Dir: filepath.Join(t.TempDir(), "nginx"), AccessLog: true,
		Sites: []NginxSite{{Root: root, ReadyPath: "/tags/latest", CacheControl: true, AcceptRanges: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background(), KillWait) })
	for _, tt := range []struct{ path, rng, cacheControl string }{
		{"/pieces/ab/ab01", "bytes=2-5", "public, max-age=31536000, immutable"},
		{"/tags/latest", "", "no-cache"},
	} {
		req, err := http.NewRequest(http.MethodGet, n.URLs[0]+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.rng != "" {
			req.Header.Set("Range", tt.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Cache-Control"); got != tt.cacheControl || resp.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("GET %s: Cache-Control %q, Accept-Ranges %q; want %q, \"bytes\"", tt.path, got, resp.Header.Get("Accept-Ranges"), tt.cacheControl)
		}
	}
	want := []NginxRequest{
		{Status: 200, Bytes: 9, Request: "GET /tags/latest"}, // the ready check
		{Status: 206, Bytes: 4, Request: "GET /pieces/ab/ab01", Range: "bytes=2-5"},
		{Status: 200, Bytes: 9, Request: "GET /tags/latest"},
	}
	reqs, err := n.WaitAccessLog(timeout(t, 10*time.Second), len(want))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reqs, want) {
		t.Errorf("access log: %+v, want %+v", reqs, want)
	}
}

func TestParseNginxRequest(t *testing.T) {
	for _, tt := range []struct {
		line string
		want NginxRequest
		ok   bool
	}{
		{"206\t4\tGET /pieces/ab/ab01\tbytes=2-5\t-", NginxRequest{206, 4, "GET /pieces/ab/ab01", "bytes=2-5", ""}, true},
		{"200\t9\tGET /tags/latest\t-\tHIT", NginxRequest{200, 9, "GET /tags/latest", "", "HIT"}, true},
		{"200\t9\tGET /tags/latest\t-", NginxRequest{}, false},
		{"200 9 GET /tags/latest -", NginxRequest{}, false},
		{"200\tx\tGET /\t-", NginxRequest{}, false},
	} {
		got, err := parseNginxRequest(tt.line)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseNginxRequest(%q) = %+v, %v; want %+v, ok %v", tt.line, got, err, tt.want, tt.ok)
		}
	}
}

// TestNginxProxyCache puts a ProxyCache site in front of an nginx origin:
// eight concurrent Range requests for one cold piece cost the origin one
// whole download, and a tag always goes through.
func TestNginxProxyCache(t *testing.T) {
	requireNginx(t)
	root := t.TempDir()
	piece := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	for name, body := range map[string][]byte{"pieces/ab/ab01": piece, "tags/latest": []byte("sha256:x\n")} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := func(site NginxSite) *Nginx {
		n, err := StartNginx(timeout(t, 30*time.Second), NginxOptions{Dir: filepath.Join(t.TempDir(), "nginx"), AccessLog: true, Sites: []NginxSite{site}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Stop(context.Background(), KillWait) })
		return n
	}
	origin := start(NginxSite{Root: root, ReadyPath: "/tags/latest", CacheControl: true})
	cache := start(NginxSite{ReadyPath: "/tags/latest", ProxyCache: &NginxProxyCache{Upstream: origin.URLs[0], Size: 64 << 20}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(i) << 19
			if err := getRange(http.DefaultClient, cache.URLs[0]+"/pieces/ab/ab01", off, 1<<16, piece[off:off+1<<16]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := getRange(http.DefaultClient, cache.URLs[0]+"/tags/latest", 0, 0, []byte("sha256:x\n")); err != nil {
		t.Error(err)
	}
	want := []NginxRequest{
		{Status: 200, Bytes: 9, Request: "GET /tags/latest"}, // the origin's ready check
		{Status: 200, Bytes: 9, Request: "GET /tags/latest"}, // the cache's
		{Status: 200, Bytes: int64(len(piece)), Request: "GET /pieces/ab/ab01"},
		{Status: 200, Bytes: 9, Request: "GET /tags/latest"},
	}
	reqs, err := origin.WaitAccessLog(timeout(t, 10*time.Second), len(want))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reqs, want) {
		t.Errorf("origin's access log: %+v, want %+v", reqs, want)
	}
}

// TestNginxConfHost checks that nginx in a Host listens on the host's
// address only, and that a ProxyCache site caches only immutable paths.
func TestNginxConfHost(t *testing.T) {
	o := NginxOptions{Dir: "/p", Host: &Host{Addr: "10.213.0.9"}, Sites: []NginxSite{
		{Root: "/a"},
		{ProxyCache: &NginxProxyCache{Upstream: "http://10.213.0.1:8080"}},
	}}
	b, err := nginxConf(o, []int{8080, 8081})
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, w := range []string{"listen 10.213.0.9:8080;", "listen 10.213.0.9:8081;", "max_size=1024m", "proxy_cache_lock on;", "proxy_pass http://10.213.0.1:8080;", "location ~ ^/(pieces|blocks|manifests)/ {"} {
		if !strings.Contains(conf, w) {
			t.Errorf("configuration lacks %q:\n%s", w, conf)
		}
	}
	if strings.Contains(conf, "127.0.0.1") || strings.Count(conf, "proxy_cache piecefs8081;") != 1 || strings.Count(conf, "root ") != 1 {
		t.Errorf("want one static site and one proxy cache, both on the host's address:\n%s", conf)
	}
}
