package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// serveLine is what piecefs serve prints once it listens.
var serveLine = regexp.MustCompile(`^serving (.+) at (http://127\.0\.0\.1:[0-9]+)$`)

// startServeOrigin runs `piecefs serve` on a free port for dir and returns
// its base URL.
func startServeOrigin(t *testing.T, dir string) string {
	t.Helper()
	p := startProc(t, fx.bin, "serve", "--addr", "127.0.0.1:0", dir)
	t.Cleanup(func() { stopProc(p) })
	line, err := p.firstLine(20 * time.Second)
	if err != nil {
		t.Fatalf("piecefs serve: %v", err)
	}
	m := serveLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("piecefs serve printed %q, want %q", line, "serving "+dir+" at http://127.0.0.1:PORT")
	}
	if m[1] != dir {
		t.Errorf("piecefs serve printed directory %q, want %q", m[1], dir)
	}
	return m[2]
}

// nginxConf is a minimal single-process nginx that keeps every file it
// writes inside its prefix directory.
const nginxConf = `daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 256; }
http {
	access_log off;
	default_type application/octet-stream;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d;
		root %[3]s;
	}
}
`

// startNginxOrigin runs Debian's nginx with dir as its document root and
// returns its base URL.
func startNginxOrigin(t *testing.T, dir string) string {
	t.Helper()
	requireNginx(t)
	prefix := t.TempDir()
	conf := filepath.Join(prefix, "nginx.conf")
	port := freePort(t)
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, prefix, port, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, nginxPath, "-e", filepath.Join(prefix, "error.log"), "-p", prefix, "-c", conf)
	t.Cleanup(func() { stopProc(p) })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHTTP(url+"/tags/latest", p, 20*time.Second); err != nil {
		errlog, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
		t.Fatalf("nginx: %v\nerror.log: %s", err, tail(errlog))
	}
	return url
}

// freePort returns a port that was free a moment ago. nginx cannot be told
// to pick one itself; a race with another process is unlikely on a test
// machine and shows as nginx failing to start.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitHTTP polls url until it answers 200, p exits, or timeout passes.
func waitHTTP(url string, p *proc, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		if p.exited() {
			return fmt.Errorf("exited (%v) before serving %s\nstderr: %s", p.err, url, p.stderrTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving after %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopProc asks a server to stop and kills it if it does not.
func stopProc(p *proc) {
	p.signal(syscall.SIGTERM)
	if !p.wait(10 * time.Second) {
		p.signal(syscall.SIGKILL)
		p.wait(10 * time.Second)
	}
}
