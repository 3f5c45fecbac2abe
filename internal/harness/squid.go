package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// DebianSquid is where Debian's squid package installs the proxy, outside
// an ordinary user's PATH.
const DebianSquid = "/usr/sbin/squid"

// SquidPort is the port squid listens on in a Host: the namespace is the
// harness's own, so the port is free.
const SquidPort = 3128

// SquidPath returns the squid binary: the one on PATH, else DebianSquid.
func SquidPath() (string, error) {
	if p, err := exec.LookPath("squid"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat(DebianSquid); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("squid is not installed (not on PATH, no executable %s)", DebianSquid)
	}
	return DebianSquid, nil
}

// SquidOptions configures StartSquid.
type SquidOptions struct {
	// Binary is the squid binary; "" finds it with SquidPath.
	Binary string
	// Dir holds squid.conf, the cache, the pid file and the logs.
	// StartSquid creates it if need be; the caller removes it. When run as
	// root, squid drops to User, which must be able to reach Dir: every
	// directory above it must be searchable by others (t.TempDir's are
	// not).
	Dir string
	// Host is the namespace squid runs in, listening on Host.Addr at
	// SquidPort; nil runs it here, listening on a free port of 127.0.0.1.
	Host *Host
	// Clients is the network that may use the proxy, in CIDR notation;
	// "" is the loopback address or, with Host, the host's /24.
	Clients string
	// CacheSize is the disk cache (cache_dir) in bytes; 0 is 1 GiB.
	CacheSize int64
	// MemSize is the memory cache (cache_mem) in bytes; 0 is 256 MiB.
	MemSize int64
	// MaxObjectSize is the largest object cached, in bytes; 0 is 64 MiB,
	// sixteen default pieces, enough for any piece publish writes with
	// --piece-size up to that.
	MaxObjectSize int64
	// User is who squid runs as when started as root; "" is "proxy", the
	// Debian package's user.
	User string
}

// Squid is a running squid.
type Squid struct {
	*Process
	// URL is the proxy's URL, http://ADDR:PORT, for HTTP_PROXY.
	URL string
	// Addr is ADDR:PORT.
	Addr string
	dir  string
}

const mib = 1 << 20

// squidFields is what the template reads: the options and what StartSquid
// derived from them.
type squidFields struct {
	Dir, Listen, Clients, User  string
	CacheMB, MemMB, MaxObjectMB int64
}

// squidTemplate is the configuration that docs/deployment.md explains,
// kept to files inside Dir and to one listening address. Each setting
// that matters for piecefs says why; the rest keeps squid from touching
// anything outside Dir or the Host's network.
var squidTemplate = template.Must(template.New("squid.conf").Funcs(template.FuncMap{"path": filepath.Join}).Parse(`# squid for piecefs pieces, made by piecefs's test harness
http_port {{.Listen}}
visible_hostname piecefs-squid
{{- if .User}}
cache_effective_user {{.User}}
{{- end}}
pid_filename {{path .Dir "squid.pid"}}
coredump_dir {{path .Dir}}
cache_log {{path .Dir "cache.log"}}
cache_store_log none
logfile_rotate 0
logformat piecefs %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru "%{Range}>h" %Sh/%<a
access_log stdio:{{path .Dir "access.log"}} piecefs
# No ICMP, ICP, HTCP or SNMP: nothing but HTTP leaves the host. Origins
# are named by address, so no DNS is needed either.
pinger_enable off
icp_port 0
htcp_port 0
dns_nameservers 127.0.0.1
shutdown_lifetime 1 seconds

acl clients src {{.Clients}}
http_access allow clients
http_access deny all

# Pieces are 4 MiB by default; block tables and manifests are objects of
# their own. An object larger than maximum_object_size is never cached.
maximum_object_size {{.MaxObjectMB}} MB
maximum_object_size_in_memory {{.MaxObjectMB}} MB
cache_mem {{.MemMB}} MB
cache_dir aufs {{path .Dir "cache"}} {{.CacheMB}} 16 256
cache_replacement_policy heap LFUDA
memory_replacement_policy heap GDSF

# piecefs reads blocks of a piece with Range requests. With a limit of
# -1, a Range miss fetches the whole piece from the origin, answers the
# range from it and caches the piece, so later ranges of it are hits.
range_offset_limit -1
# A client that has its range closes early; finish the fetch anyway so
# that the piece is cached (quick_abort_min -1 never aborts).
quick_abort_min -1 KB
# Concurrent misses for one URL share one origin fetch: sixteen cold
# clients reading the same model at once must not be sixteen downloads.
collapsed_forwarding on
# Read from the origin this far ahead of the client (default 16 KB), so a
# slow first reader does not pace a piece's download for the others.
read_ahead_gap 4 MB

# Pieces, block tables and manifests are named by their sha256 and never
# change: keep them for a year, whatever the origin says. Tags are the one
# mutable name: always revalidate them.
refresh_pattern /(pieces|blocks)/[0-9a-f][0-9a-f]/[0-9a-f]+$ 525600 100% 525600 override-expire override-lastmod ignore-reload ignore-no-store ignore-private
refresh_pattern /manifests/[0-9a-f]+\.json$ 525600 100% 525600 override-expire override-lastmod ignore-reload ignore-no-store ignore-private
refresh_pattern /tags/ 0 0% 0
refresh_pattern . 0 20% 4320
`))

// StartSquid writes a configuration into o.Dir, makes the cache's
// directories (squid -z), starts squid in the foreground (squid -N) and
// waits, within ctx, until it accepts connections. On failure nothing it
// started is left running; the error quotes cache.log.
func StartSquid(ctx context.Context, o SquidOptions) (*Squid, error) {
	if o.Binary == "" {
		var err error
		if o.Binary, err = SquidPath(); err != nil {
			return nil, err
		}
	}
	f, addr, err := squidFieldsOf(o)
	if err != nil {
		return nil, err
	}
	conf, err := squidConf(o.Dir, f)
	if err != nil {
		return nil, err
	}
	s := &Squid{URL: "http://" + addr, Addr: addr, dir: o.Dir}
	cmd := func(args ...string) Command {
		c := Command{Path: o.Binary, Args: append([]string{"-N", "-f", conf}, args...)}
		if o.Host != nil {
			c = o.Host.Command(c)
		}
		return c
	}
	if p, err := Run(ctx, cmd("-z")); err != nil {
		return nil, fmt.Errorf("squid -z: %w\n%s\ncache.log: %s", err, stderrOf(p), s.CacheLog())
	}
	if s.Process, err = Start(cmd()); err != nil {
		return nil, err
	}
	dial := (&net.Dialer{}).DialContext
	if o.Host != nil {
		dial = o.Host.DialContext
	}
	if err := waitTCP(ctx, addr, s.Process, dial); err != nil {
		_ = s.Stop(context.Background(), KillWait) // the error at hand says more
		return nil, fmt.Errorf("squid: %w\ncache.log: %s", err, s.CacheLog())
	}
	return s, nil
}

func stderrOf(p *Process) string {
	if p == nil {
		return ""
	}
	return p.stderrTail()
}

// squidFieldsOf fills in o's defaults and picks the listening address.
func squidFieldsOf(o SquidOptions) (squidFields, string, error) {
	if o.Dir == "" || strings.ContainsAny(o.Dir, " \t\n\"") {
		return squidFields{}, "", fmt.Errorf("start squid: directory %q: want one without white space or quotes, which squid.conf cannot hold", o.Dir)
	}
	f := squidFields{Dir: o.Dir, Clients: o.Clients, CacheMB: 1024, MemMB: 256, MaxObjectMB: 64}
	for _, v := range []struct {
		bytes int64
		mb    *int64
	}{{o.CacheSize, &f.CacheMB}, {o.MemSize, &f.MemMB}, {o.MaxObjectSize, &f.MaxObjectMB}} {
		if v.bytes > 0 {
			*v.mb = max(1, (v.bytes+mib-1)/mib)
		}
	}
	var addr string
	if o.Host != nil {
		addr = net.JoinHostPort(o.Host.Addr, strconv.Itoa(SquidPort))
		if f.Clients == "" {
			f.Clients = o.Host.Addr + "/24"
		}
	} else {
		ports, err := FreePorts(1)
		if err != nil {
			return f, "", fmt.Errorf("start squid: %w", err)
		}
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		if f.Clients == "" {
			f.Clients = "127.0.0.1/32"
		}
	}
	f.Listen = addr
	if os.Geteuid() == 0 {
		f.User = o.User
		if f.User == "" {
			f.User = "proxy"
		}
	}
	return f, addr, nil
}

// squidConf creates dir, writes squid.conf into it and, when squid will
// drop to another user, gives dir and what is in it to that user.
func squidConf(dir string, f squidFields) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("start squid: %w", err)
	}
	var b bytes.Buffer
	if err := squidTemplate.Execute(&b, f); err != nil {
		return "", fmt.Errorf("squid configuration: %w", err)
	}
	conf := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(conf, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("start squid: %w", err)
	}
	if f.User == "" {
		return conf, nil
	}
	return conf, chownTree(dir, f.User)
}

// chownTree gives dir and everything in it to the user named name.
func chownTree(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("start squid: user %s: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("start squid: user %s: %w", name, err)
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// CacheLog returns the end of squid's cache.log, where it says why it
// failed.
func (s *Squid) CacheLog() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "cache.log"))
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return Tail(b, tailSize)
}

// AccessLogPath is squid's access log: one line a request, in the format
// "piecefs" of the configuration: time, duration in ms, client, cache
// result/status, bytes sent to the client, method, URL, the quoted Range
// header, hierarchy/peer.
func (s *Squid) AccessLogPath() string { return filepath.Join(s.dir, "access.log") }

// squidGrace is how long Stop waits for squid after SIGTERM: it exits
// after shutdown_lifetime (1s) and writing its cache index.
const squidGrace = 15 * time.Second

// Close stops squid (SIGTERM, then SIGKILL after squidGrace).
func (s *Squid) Close() error { return s.Stop(context.Background(), squidGrace) }
