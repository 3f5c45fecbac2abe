package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// origin is the HTTP side: the publish output for piecefs and curl, and the
// source tree with directory listings for rclone's http backend (which
// cannot read the piecefs layout). Both serve the same bytes.
type origin struct {
	kind   string // "nginx" or "piecefs serve"
	url    string // the publish output
	srcURL string // the source tree with listings; "" when nothing serves it
	srcBy  string // what serves srcURL
}

// nginxConf is a single-process nginx that keeps every file it writes in
// its prefix directory: %[1]s prefix, %[2]d and %[3]s the publish port and
// root, %[4]d and %[5]s the source port and root.
const nginxConf = `daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	default_type application/octet-stream;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	keepalive_timeout 300s;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d;
		root %[3]s;
	}
	server {
		listen 127.0.0.1:%[4]d;
		root %[5]s;
		autoindex on;
	}
}
`

// startNginx serves out and src from one nginx process.
func (b *bench) startNginx(ctx context.Context, out, src string) (*origin, error) {
	prefix := filepath.Join(b.tmp, "nginx")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, prefix, ports[0], out, ports[1], src), 0o644); err != nil {
		return nil, err
	}
	p, err := b.startChild(b.tools.nginx, "-e", filepath.Join(prefix, "error.log"), "-p", prefix, "-c", conf)
	if err != nil {
		return nil, err
	}
	o := &origin{kind: "nginx", srcBy: "nginx autoindex",
		url:    fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		srcURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1])}
	if err := waitHTTP(ctx, o.url+"/tags/latest", p); err != nil {
		log, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
		return nil, fmt.Errorf("nginx: %w\nerror.log: %s", err, log)
	}
	return o, waitHTTP(ctx, o.srcURL+"/", p)
}

// serveLine is what `piecefs serve` prints once it listens.
var serveLine = regexp.MustCompile(`^serving .+ at (http://127\.0\.0\.1:[0-9]+)$`)

// startServe serves out with `piecefs serve` and, when rclone is installed,
// src with `rclone serve http`, which lists directories as rclone's http
// backend expects.
func (b *bench) startServe(ctx context.Context, out, src string) (*origin, error) {
	p, err := b.startChild(b.bin, "serve", "--addr", "127.0.0.1:0", out)
	if err != nil {
		return nil, err
	}
	l, err := p.waitLine(ctx, 30*time.Second)
	if err != nil {
		return nil, err
	}
	m := serveLine.FindStringSubmatch(l.text)
	if m == nil {
		return nil, fmt.Errorf("piecefs serve printed %q, want %q", l.text, "serving DIR at http://127.0.0.1:PORT")
	}
	o := &origin{kind: "piecefs serve", url: m[1]}
	if b.tools.rclone == "" {
		return o, nil
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	o.srcURL, o.srcBy = fmt.Sprintf("http://127.0.0.1:%d", ports[0]), "rclone serve http"
	rp, err := b.startChild(b.tools.rclone, "serve", "http", "--config", b.rcloneConf, "--read-only",
		"--addr", fmt.Sprintf("127.0.0.1:%d", ports[0]), src)
	if err != nil {
		return nil, err
	}
	return o, waitHTTP(ctx, o.srcURL+"/", rp)
}

// freePorts returns n ports that were free a moment ago. nginx cannot be
// told to pick its own; a race with another process shows as nginx
// failing to start.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // held until all are picked, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitHTTP polls url until it answers 200, p exits, or a timeout passes.
func waitHTTP(ctx context.Context, url string, p *proc) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		switch {
		case p.exited():
			return fmt.Errorf("%s exited (%v) before serving %s\nstderr: %s", p.name, p.err, url, p.stderr.String())
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case time.Now().After(deadline):
			return fmt.Errorf("%s not serving %s after 30s: %w", p.name, url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
