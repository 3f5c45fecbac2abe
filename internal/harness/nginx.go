package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// DebianNginx is where Debian's nginx package installs the server, outside
// an ordinary user's PATH.
const DebianNginx = "/usr/sbin/nginx"

// NginxPath returns the nginx binary: the one on PATH, else DebianNginx.
func NginxPath() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	fi, err := os.Stat(DebianNginx)
	if err != nil {
		return "", fmt.Errorf("nginx is not installed (not on PATH): %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("nginx is not installed: %s is not an executable file", DebianNginx)
	}
	return DebianNginx, nil
}

// NginxSite is one nginx server: a directory served on a port of its own.
type NginxSite struct {
	// Root is the directory served.
	Root string
	// Listing turns on directory listings (autoindex), which rclone's http
	// backend reads to walk a tree.
	Listing bool
	// ReadyPath is the path StartNginx waits for to answer 200 OK; "" is
	// "/", which answers only with Listing or an index.html.
	ReadyPath string
	// AcceptRanges adds "Accept-Ranges: bytes" to every response, 206
	// Partial Content included, where nginx leaves it out: httpfs2 refuses
	// a 206 without it. A 200 then carries the header twice, which HTTP
	// reads as one list.
	AcceptRanges bool
	// CacheControl sends the Cache-Control headers `piecefs serve` sends:
	// "public, max-age=31536000, immutable" for pieces, block tables and
	// manifests, which never change, and "no-cache" for tags, the one
	// mutable name, so that a shared cache on the way keeps the former
	// and revalidates the latter.
	CacheControl bool
	// ProxyCache, when not nil, makes the site a caching reverse proxy of
	// another origin instead of a server of Root, configured as
	// docs/deployment.md explains.
	ProxyCache *NginxProxyCache
}

// NginxProxyCache is a site that passes requests to Upstream and keeps
// pieces, block tables and manifests (never tags) in a cache of its own
// in the nginx directory. A Range miss fetches the whole object (nginx
// drops Range towards the upstream when it caches), concurrent misses for
// one object wait for the first (proxy_cache_lock), and ranges are served
// from the cached object.
type NginxProxyCache struct {
	// Upstream is the origin's base URL, http://HOST:PORT.
	Upstream string
	// Size bounds the cache (max_size); 0 is 1 GiB.
	Size int64
}

// CacheMB is Size in MiB, for the configuration.
func (c *NginxProxyCache) CacheMB() int64 {
	if c.Size <= 0 {
		return 1024
	}
	return max(1, (c.Size+mib-1)/mib)
}

// NginxOptions configures StartNginx.
type NginxOptions struct {
	// Binary is the nginx binary; "" finds it with NginxPath.
	Binary string
	// Dir holds the configuration, the pid file, error.log and nginx's
	// temporary directories. StartNginx creates it if need be; the caller
	// removes it.
	Dir string
	// Sites are the servers, each on a free port of 127.0.0.1, or with
	// Host on port NginxHostPort+i of the host's address.
	Sites []NginxSite
	// Host is the network namespace nginx runs in; nil runs it here, on
	// 127.0.0.1.
	Host *Host
	// AccessLog logs every request to access.log in Dir, with the bytes
	// of the body sent (see Nginx.AccessLog): the origin's side of what a
	// cache in front of it saved.
	AccessLog bool
	// Throughput tunes nginx for a benchmark: sendfile, tcp_nopush, 1024
	// connections, and connections kept alive for a million requests or
	// five idle minutes, so that a client's pool is never cut short.
	Throughput bool
}

// NginxHostPort is the first site's port when nginx runs in a Host: the
// namespace is the harness's own, so its ports are free.
const NginxHostPort = 8080

// Nginx is a running nginx.
type Nginx struct {
	*Process
	// URLs are the sites' base URLs, http://127.0.0.1:PORT (or the Host's
	// address), in the order of NginxOptions.Sites.
	URLs []string
	dir  string
}

// nginxAttempts is how many times StartNginx picks ports and starts nginx
// when nginx exits at once, as it does when another process took a port.
const nginxAttempts = 3

// StartNginx starts one nginx process (no master, no daemon) serving
// o.Sites on 127.0.0.1 (or in o.Host, on its address), and waits, within
// ctx, until every site answers.
// On failure nothing it started is left running; the error quotes
// error.log.
func StartNginx(ctx context.Context, o NginxOptions) (*Nginx, error) {
	if len(o.Sites) == 0 {
		return nil, errors.New("start nginx: no site to serve")
	}
	if o.Binary == "" {
		var err error
		if o.Binary, err = NginxPath(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	for attempt := 1; ; attempt++ {
		n, err := startNginx(ctx, o)
		if err == nil || !errors.Is(err, ErrExited) || attempt == nginxAttempts {
			return n, err
		}
	}
}

func startNginx(ctx context.Context, o NginxOptions) (*Nginx, error) {
	ports, err := nginxPorts(o)
	if err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	conf, err := nginxConf(o, ports)
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(o.Dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	c := Command{Path: o.Binary, Args: []string{"-e", filepath.Join(o.Dir, "error.log"), "-p", o.Dir, "-c", confPath}}
	if o.Host != nil {
		c = o.Host.Command(c)
	}
	p, err := Start(c)
	if err != nil {
		return nil, err
	}
	n := &Nginx{Process: p, dir: o.Dir}
	for i, s := range o.Sites {
		n.URLs = append(n.URLs, "http://"+net.JoinHostPort(nginxAddr(o), strconv.Itoa(ports[i])))
		path := s.ReadyPath
		if path == "" {
			path = "/"
		}
		if err := waitHTTPIn(ctx, o.Host, n.URLs[i], path, p); err != nil {
			_ = p.Stop(context.Background(), KillWait) // the error at hand says more
			return nil, fmt.Errorf("nginx: %w\nerror.log: %s", err, n.ErrorLog())
		}
	}
	return n, nil
}

// nginxPorts picks the sites' ports: free ones of 127.0.0.1, or, in a
// Host, NginxHostPort and the ports after it.
func nginxPorts(o NginxOptions) ([]int, error) {
	if o.Host == nil {
		return FreePorts(len(o.Sites))
	}
	ports := make([]int, len(o.Sites))
	for i := range ports {
		ports[i] = NginxHostPort + i
	}
	return ports, nil
}

// nginxAddr is the address nginx listens on.
func nginxAddr(o NginxOptions) string {
	if o.Host == nil {
		return "127.0.0.1"
	}
	return o.Host.Addr
}

// waitHTTPIn is WaitHTTP for base+path, from inside h when h is not nil:
// once the port accepts connections there, nginx answers at once.
func waitHTTPIn(ctx context.Context, h *Host, base, path string, p *Process) error {
	if h == nil {
		return WaitHTTP(ctx, base+path, p)
	}
	if err := h.WaitTCP(ctx, strings.TrimPrefix(base, "http://"), p); err != nil {
		return err
	}
	return get(ctx, h.HTTPClient(), base+path)
}

// NginxRequest is one line of the access log that NginxOptions.AccessLog
// turns on.
type NginxRequest struct {
	Status int
	// Bytes is $body_bytes_sent: the body's bytes sent, headers left out.
	Bytes int64
	// Request is the request line's method and URI, "GET /pieces/ab/…".
	Request string
	// Range is the request's Range header, "" if none.
	Range string
	// Cache is what a ProxyCache site's cache did ($upstream_cache_status:
	// MISS, HIT, ...), "" for a site that serves files.
	Cache string
}

// AccessLogPath is the access log that NginxOptions.AccessLog turns on.
func (n *Nginx) AccessLogPath() string { return filepath.Join(n.dir, "access.log") }

// AccessLog reads the access log that NginxOptions.AccessLog turns on.
// nginx writes a request's line, unbuffered, in its log phase, after the
// response has gone out: a client can have read the whole answer a moment
// before its line is there. WaitAccessLog waits for the lines a caller
// knows are due.
func (n *Nginx) AccessLog() ([]NginxRequest, error) {
	b, err := os.ReadFile(n.AccessLogPath())
	if err != nil {
		return nil, fmt.Errorf("nginx access log: %w", err)
	}
	var reqs []NginxRequest
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		r, err := parseNginxRequest(l)
		if err != nil {
			return nil, fmt.Errorf("nginx access log: %w", err)
		}
		reqs = append(reqs, r)
	}
	return reqs, nil
}

// WaitAccessLog reads the access log once it holds at least want lines,
// or returns what it holds when ctx ends, with ctx's error.
func (n *Nginx) WaitAccessLog(ctx context.Context, want int) ([]NginxRequest, error) {
	for {
		reqs, err := n.AccessLog()
		if err != nil || len(reqs) >= want {
			return reqs, err
		}
		select {
		case <-ctx.Done():
			return reqs, fmt.Errorf("nginx access log: %d lines, want %d: %w", len(reqs), want, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// parseNginxRequest parses a line of log_format piecefs: status, bytes,
// request, range and cache status, separated by tabs (nginx escapes a tab in a header
// as \x09, so a field never holds one).
func parseNginxRequest(l string) (NginxRequest, error) {
	f := strings.Split(l, "\t")
	if len(f) != 5 {
		return NginxRequest{}, fmt.Errorf("line %q: %d fields, want 5", l, len(f))
	}
	status, err1 := strconv.Atoi(f[0])
	bytes, err2 := strconv.ParseInt(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return NginxRequest{}, fmt.Errorf("line %q: %w", l, err)
	}
	r := NginxRequest{Status: status, Bytes: bytes, Request: f[2], Range: f[3], Cache: f[4]}
	if r.Range == "-" {
		r.Range = ""
	}
	if r.Cache == "-" {
		r.Cache = ""
	}
	return r, nil
}

// ErrorLog returns the end of nginx's error.log.
func (n *Nginx) ErrorLog() string {
	b, err := os.ReadFile(filepath.Join(n.dir, "error.log"))
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return Tail(b, tailSize)
}

// nginxTemplate is a single-process nginx that keeps every file it writes
// inside its directory and listens on one address only: 127.0.0.1, or
// the address of the Host it runs in.
var nginxTemplate = template.Must(template.New("nginx.conf").Funcs(template.FuncMap{"q": nginxQuote}).Parse(`daemon off;
master_process off;
pid {{q .Dir "nginx.pid"}};
error_log {{q .Dir "error.log"}};
events { worker_connections {{if .Throughput}}1024{{else}}256{{end}}; }
http {
{{- if .AccessLog}}
	log_format piecefs "$status\t$body_bytes_sent\t$request_method $request_uri\t$http_range\t$upstream_cache_status";
	access_log {{q .Dir "access.log"}} piecefs;
{{- else}}
	access_log off;
{{- end}}
	default_type application/octet-stream;
{{- if .Throughput}}
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	keepalive_timeout 300s;
{{- end}}
	client_body_temp_path {{q .Dir "client_body"}};
	proxy_temp_path {{q .Dir "proxy"}};
	fastcgi_temp_path {{q .Dir "fastcgi"}};
	uwsgi_temp_path {{q .Dir "uwsgi"}};
	scgi_temp_path {{q .Dir "scgi"}};
{{- range .Servers}}
{{- if .ProxyCache}}
	proxy_cache_path {{q $.Dir (printf "cache%d" .Port)}} levels=1:2 keys_zone=piecefs{{.Port}}:16m max_size={{.ProxyCache.CacheMB}}m inactive=365d use_temp_path=off;
{{- end}}
{{- end}}
{{- range .Servers}}
	server {
		listen {{$.Addr}}:{{.Port}};
{{- if .ProxyCache}}
		# Tags are the one mutable name: passed through, never cached.
		location / {
			proxy_pass {{.ProxyCache.Upstream}};
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
		# Pieces, block tables and manifests never change. With a cache,
		# nginx asks the upstream for the whole object whatever Range the
		# client sent and serves the range from it; proxy_cache_lock makes
		# concurrent misses wait for the first instead of each fetching.
		location ~ ^/(pieces|blocks|manifests)/ {
			proxy_pass {{.ProxyCache.Upstream}};
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_cache piecefs{{.Port}};
			proxy_cache_key $uri;
			proxy_cache_valid 200 365d;
			proxy_ignore_headers Expires Set-Cookie;
			proxy_cache_lock on;
			proxy_cache_lock_timeout 10m;
			proxy_cache_lock_age 10m;
			proxy_force_ranges on;
			add_header X-Cache-Status $upstream_cache_status;
		}
	}
{{- continue}}
{{- end}}
		root {{q .Root}};
{{- if .Listing}}
		autoindex on;
{{- end}}
{{- if .AcceptRanges}}
		add_header Accept-Ranges bytes;
{{- end}}
{{- if .CacheControl}}
		# add_header in a location replaces the server's, so each repeats it.
		location ~ ^/(pieces|blocks|manifests)/ {
			add_header Cache-Control "public, max-age=31536000, immutable";
{{- if .AcceptRanges}}
			add_header Accept-Ranges bytes;
{{- end}}
		}
		location /tags/ {
			add_header Cache-Control "no-cache";
{{- if .AcceptRanges}}
			add_header Accept-Ranges bytes;
{{- end}}
		}
{{- end}}
	}
{{- end}}
}
`))

func nginxConf(o NginxOptions, ports []int) ([]byte, error) {
	type server struct {
		NginxSite
		Port int
	}
	data := struct {
		NginxOptions
		Addr    string
		Servers []server
	}{NginxOptions: o, Addr: nginxAddr(o)}
	for i, s := range o.Sites {
		data.Servers = append(data.Servers, server{s, ports[i]})
	}
	var b bytes.Buffer
	if err := nginxTemplate.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("nginx configuration: %w", err)
	}
	return b.Bytes(), nil
}

// nginxQuote joins path elements and quotes the result for nginx's
// configuration, so that a space or a semicolon in a path is taken as it is.
func nginxQuote(elem ...string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(filepath.Join(elem...)) + `"`
}
