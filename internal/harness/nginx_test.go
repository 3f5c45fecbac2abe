package harness

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
