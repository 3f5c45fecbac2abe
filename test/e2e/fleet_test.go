package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// fleetClients is how many client hosts read the model at once.
const fleetClients = 16

// maxOriginRatio bounds what the origin may send in the cold phase: a
// thundering herd of cold clients behind one squid must cost about one
// download of the model, not one per client.
const maxOriginRatio = 1.1

// fleet is the network of TestFleet and what runs on it.
type fleet struct {
	net    *harness.Network
	origin *harness.Nginx
	// describe summarises the running subtest's cache's access log from
	// line from on, and returns its length (see describeSquid).
	describe func(t *testing.T, from int) (string, int)
	url      string // the origin's base URL, as the clients mount it
	size     int64  // the model's bytes
	sum      string // the model's sha256
	clients  []*harness.Host
}

// TestFleet is issue 11's "many nodes behind one squid": an origin host
// serving a publication with nginx, a squid host, and 16 client hosts,
// each a network namespace of the test's own on one bridge, with no route
// anywhere else. Each client runs `piecefs mount` through the squid
// (HTTP_PROXY, to an origin on a private address) with a cache of its
// own, and all of them read the same model at once, first with squid
// cold, then, on fresh mounts and caches, with squid warm.
//
// The subtest "nginx" does the same with an nginx proxy_cache on the
// cache host instead, which the clients mount as their origin (a reverse
// proxy, no HTTP_PROXY).
//
// It asserts that every client read the right bytes and that the origin
// sent at most 1.1 times the model while the herd was cold. The cold and
// warm times and their ratio (the target is 1.5) are reported, not
// asserted: this machine is shared and virtual.
//
// PIECEFS_FLEET_SIZE sets the model's size (default 96 MiB; the bench
// reads 1GiB). PIECEFS_FLEET_LOGS, a directory, gets a copy of the
// origin's and the caches' access logs.
func TestFleet(t *testing.T) {
	requireFleet(t)
	f := startFleet(t, fleetSize(t))
	t.Run("squid", func(t *testing.T) {
		s := f.startSquid(t)
		f.coldWarm(t, s.URL, f.url)
		keepLog(t, s.AccessLogPath(), "squid-access.log")
	})
	t.Run("nginx", func(t *testing.T) {
		url := f.startNginxCache(t)
		f.coldWarm(t, "", url)
	})
	keepLog(t, f.origin.AccessLogPath(), "origin-access.log")
}

// coldWarm reads the model on every client twice, through a cache that is
// cold, then warm, on fresh mounts and caches each time, and reports.
func (f *fleet) coldWarm(t *testing.T, proxy, origin string) {
	cold := f.phase(t, "cold", proxy, origin)
	if limit := int64(maxOriginRatio * float64(f.size)); cold.originBytes > limit {
		t.Errorf("cold: the origin sent %s for a model of %s (%.2fx), want at most %.1fx", mib(cold.originBytes), mib(f.size), float64(cold.originBytes)/float64(f.size), maxOriginRatio)
	}
	warm := f.phase(t, "warm", proxy, origin)
	t.Logf("model %s, %d clients: cold %v (origin sent %.3fx the model), warm %v (origin sent %.3fx); cold/warm %.2f (target <= 1.5)",
		mib(f.size), fleetClients, cold.elapsed.Round(time.Millisecond), float64(cold.originBytes)/float64(f.size),
		warm.elapsed.Round(time.Millisecond), float64(warm.originBytes)/float64(f.size), cold.elapsed.Seconds()/warm.elapsed.Seconds())
}

// startFleet publishes a model of size random bytes and starts the
// network, the origin and the squid.
func startFleet(t *testing.T, size int64) *fleet {
	t.Helper()
	f := &fleet{size: size}
	src, out := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	f.sum = writeModel(t, filepath.Join(src, "model.bin"), size)
	if _, err := publish(fx.bin, src, out); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(src); err != nil { // out is all the origin needs
		t.Fatal(err)
	}
	names := []string{"origin", "cache"}
	for i := range fleetClients {
		names = append(names, fmt.Sprintf("client%02d", i))
	}
	var err error
	if f.net, err = harness.NewNetwork(timeoutCtx(t, time.Minute), names...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.net.Close(); err != nil {
			t.Error(err)
		}
	})
	f.clients = f.net.Hosts[2:]
	f.origin, err = harness.StartNginx(timeoutCtx(t, originTimeout), harness.NginxOptions{
		Dir: t.TempDir(), Host: f.net.Host("origin"), AccessLog: true, Throughput: true,
		Sites: []harness.NginxSite{{Root: out, ReadyPath: "/tags/latest", CacheControl: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.origin.Stop(context.Background(), 10*time.Second) })
	f.url = f.origin.URLs[0]
	return f
}

// startSquid starts squid on the cache host, configured as
// docs/deployment.md says, for the subtest t.
func (f *fleet) startSquid(t *testing.T) *harness.Squid {
	s, err := harness.StartSquid(timeoutCtx(t, time.Minute), harness.SquidOptions{
		Dir: reachableDir(t, "squid"), Host: f.net.Host("cache"), Clients: f.net.Subnet(),
		CacheSize: 2*f.size + 256<<20, MemSize: 256 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop squid: %v\ncache.log: %s", err, s.CacheLog())
		}
	})
	f.describe = func(t *testing.T, from int) (string, int) { return describeSquid(t, s, from) }
	return s
}

// startNginxCache starts an nginx proxy_cache of the origin on the cache
// host for the subtest t and returns its URL, which clients mount.
func (f *fleet) startNginxCache(t *testing.T) string {
	n, err := harness.StartNginx(timeoutCtx(t, originTimeout), harness.NginxOptions{
		Dir: t.TempDir(), Host: f.net.Host("cache"), AccessLog: true, Throughput: true,
		Sites: []harness.NginxSite{{ReadyPath: "/tags/latest", ProxyCache: &harness.NginxProxyCache{Upstream: f.url, Size: 2 * f.size}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		keepLog(t, n.AccessLogPath(), "nginx-cache-access.log")
		_ = n.Stop(context.Background(), 10*time.Second)
	})
	f.describe = func(t *testing.T, from int) (string, int) { return describeNginxCache(t, n, from) }
	return n.URLs[0]
}

// phaseResult is what one read of the model by the whole fleet measured.
type phaseResult struct {
	elapsed     time.Duration
	originBytes int64
}

// phase mounts the model from origin through proxy ("" for none) on every
// client with an empty cache, reads it everywhere at once, checks every
// client's sha256, and stops the mounts and removes their caches.
func (f *fleet) phase(t *testing.T, name, proxy, origin string) phaseResult {
	t.Helper()
	logged, err := f.origin.AccessLog()
	if err != nil {
		t.Fatal(err)
	}
	_, cacheFrom := f.describe(t, 0)
	caches := t.TempDir()
	mounts := make([]*mount, len(f.clients))
	for i, h := range f.clients {
		mounts[i] = fleetMount(t, h, proxy, origin, filepath.Join(caches, h.Name))
	}
	elapsed, sums := readFleet(t, mounts, "model.bin")
	for i, sum := range sums {
		if sum != f.sum && sum != "" {
			t.Errorf("%s: %s read sha256 %s, want %s", name, f.clients[i].Name, sum, f.sum)
		}
	}
	stopMounts(t, mounts)
	if err := os.RemoveAll(caches); err != nil {
		t.Fatal(err)
	}
	bytes, reqs := originBytes(t, f.origin, len(logged))
	cache, _ := f.describe(t, cacheFrom)
	t.Logf("%s: %d clients read %s each in %v; the origin sent %s (%.3fx the model) in %d requests (%s); the cache: %s",
		name, len(mounts), mib(f.size), elapsed.Round(time.Millisecond), mib(bytes), float64(bytes)/float64(f.size), len(reqs), describeOrigin(reqs), cache)
	return phaseResult{elapsed: elapsed, originBytes: bytes}
}
