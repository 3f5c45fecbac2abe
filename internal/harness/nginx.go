package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
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
}

// NginxOptions configures StartNginx.
type NginxOptions struct {
	// Binary is the nginx binary; "" finds it with NginxPath.
	Binary string
	// Dir holds the configuration, the pid file, error.log and nginx's
	// temporary directories. StartNginx creates it if need be; the caller
	// removes it.
	Dir string
	// Sites are the servers, each on a free port of 127.0.0.1.
	Sites []NginxSite
	// Throughput tunes nginx for a benchmark: sendfile, tcp_nopush, 1024
	// connections, and connections kept alive for a million requests or
	// five idle minutes, so that a client's pool is never cut short.
	Throughput bool
}

// Nginx is a running nginx.
type Nginx struct {
	*Process
	// URLs are the sites' base URLs, http://127.0.0.1:PORT, in the order of
	// NginxOptions.Sites.
	URLs []string
	dir  string
}

// nginxAttempts is how many times StartNginx picks ports and starts nginx
// when nginx exits at once, as it does when another process took a port.
const nginxAttempts = 3

// StartNginx starts one nginx process (no master, no daemon) serving
// o.Sites on 127.0.0.1, and waits, within ctx, until every site answers.
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
	ports, err := FreePorts(len(o.Sites))
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
	p, err := Start(Command{Path: o.Binary, Args: []string{"-e", filepath.Join(o.Dir, "error.log"), "-p", o.Dir, "-c", confPath}})
	if err != nil {
		return nil, err
	}
	n := &Nginx{Process: p, dir: o.Dir}
	for i, s := range o.Sites {
		n.URLs = append(n.URLs, LoopbackURL(ports[i]))
		path := s.ReadyPath
		if path == "" {
			path = "/"
		}
		if err := WaitHTTP(ctx, n.URLs[i]+path, p); err != nil {
			_ = p.Stop(context.Background(), KillWait) // the error at hand says more
			return nil, fmt.Errorf("nginx: %w\nerror.log: %s", err, n.ErrorLog())
		}
	}
	return n, nil
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
// inside its directory and listens on 127.0.0.1 only.
var nginxTemplate = template.Must(template.New("nginx.conf").Funcs(template.FuncMap{"q": nginxQuote}).Parse(`daemon off;
master_process off;
pid {{q .Dir "nginx.pid"}};
error_log {{q .Dir "error.log"}};
events { worker_connections {{if .Throughput}}1024{{else}}256{{end}}; }
http {
	access_log off;
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
	server {
		listen 127.0.0.1:{{.Port}};
		root {{q .Root}};
{{- if .Listing}}
		autoindex on;
{{- end}}
{{- if .AcceptRanges}}
		add_header Accept-Ranges bytes;
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
		Servers []server
	}{NginxOptions: o}
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
