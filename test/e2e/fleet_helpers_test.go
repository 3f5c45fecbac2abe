package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// fleetDefaultSize is the model the fleet reads unless PIECEFS_FLEET_SIZE
// says otherwise: small enough for CI on two cores, large enough to be
// 24 pieces of the default 4 MiB.
const fleetDefaultSize = 96 << 20

// fleetSize is PIECEFS_FLEET_SIZE ("96MiB", "1GiB", or bytes), else
// fleetDefaultSize.
func fleetSize(t *testing.T) int64 {
	t.Helper()
	s := os.Getenv("PIECEFS_FLEET_SIZE")
	if s == "" {
		return fleetDefaultSize
	}
	n, unit := s, int64(1)
	for suffix, u := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			n, unit = strings.TrimSuffix(s, suffix), u
		}
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v <= 0 {
		t.Fatalf("PIECEFS_FLEET_SIZE=%q: want a positive size such as 96MiB or 1GiB", s)
	}
	return v * unit
}

// writeModel writes size random bytes (a seeded ChaCha8, so that a run can
// be repeated) to path and returns their sha256 in hex.
func writeModel(t *testing.T, path string, size int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{'f', 'l', 'e', 'e', 't'})
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(src, size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// requireFleet checks what the fleet needs beside FUSE and nginx: root,
// ip, nsenter and squid.
func requireFleet(t *testing.T) {
	t.Helper()
	requireFUSE(t)
	requireNginx(t)
	if os.Geteuid() != 0 {
		missing(t, "network namespaces need root, not uid %d", os.Geteuid())
	}
	if err := harness.NetTools(); err != nil {
		missing(t, "%v", err)
	}
	if _, err := harness.SquidPath(); err != nil {
		missing(t, "%v", err)
	}
}

// reachableDir returns a new directory that a daemon dropping to another
// user (squid, as proxy) can reach: t.TempDir's parents are private.
func reachableDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "piecefs-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fleetMount starts `piecefs mount` of origin in host h, through proxy
// (HTTP_PROXY and HTTPS_PROXY, NO_PROXY empty; "" for none, whatever the
// test's environment says), with cache as its cache
// directory, on a new mountpoint that the test reads from the root
// namespace.
func fleetMount(t *testing.T, h *harness.Host, proxy, origin, cache string) *mount {
	t.Helper()
	mnt := newMountpoint(t)
	args := []string{"mount", "--cache", cache, "--memory-cache", "64MiB", "--fetch-timeout", "2m", "--log-level", "warn", origin, mnt}
	var env []string
	for _, name := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		env = append(env, name+"="+proxy)
	}
	env = append(env, "NO_PROXY=", "no_proxy=")
	hm, err := harness.StartMount(timeoutCtx(t, time.Minute), h.Command(harness.Command{Path: fx.bin, Args: args, Env: env}), mnt)
	if err != nil {
		t.Fatalf("piecefs mount in %s: %v", h.Name, err)
	}
	m := &mount{proc: &proc{hm.Process}, dir: mnt, digest: hm.Digest}
	t.Cleanup(func() { m.cleanup(t) })
	return m
}

// readFleet runs sha256sum on name under every mountpoint at once and
// returns how long it took them all and each one's sum.
func readFleet(t *testing.T, mounts []*mount, name string) (time.Duration, []string) {
	t.Helper()
	sums := make([]string, len(mounts))
	errs := make([]error, len(mounts))
	var wg sync.WaitGroup
	start := time.Now()
	for i, m := range mounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := runTool(30*time.Minute, "", "sha256sum", filepath.Join(m.dir, name))
			if out.err != nil {
				errs[i] = fmt.Errorf("sha256sum in %s: %w\n%s", m.dir, out.err, tail(out.stderr))
				return
			}
			sums[i], _, _ = strings.Cut(string(out.stdout), " ")
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	return elapsed, sums
}

// originBytes sums the body bytes nginx sent, and counts its requests,
// from the first `from` lines of its access log on.
func originBytes(t *testing.T, n *harness.Nginx, from int) (bytes int64, reqs []harness.NginxRequest) {
	t.Helper()
	all, err := n.AccessLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all[from:] {
		bytes += r.Bytes
	}
	return bytes, all[from:]
}

// describeOrigin summarises what the origin was asked: requests by kind
// (piece, block table, manifest, tag), with and without Range, by status.
func describeOrigin(reqs []harness.NginxRequest) string {
	counts := map[string]int{}
	for _, r := range reqs {
		kind := "other"
		for _, k := range []string{"pieces", "blocks", "manifests", "tags"} {
			if strings.Contains(r.Request, " /"+k+"/") {
				kind = k
			}
		}
		if r.Range != "" {
			kind += " ranged"
		}
		counts[fmt.Sprintf("%s %d", kind, r.Status)]++
	}
	return joinCounts(counts)
}

// describeNginxCache summarises an nginx proxy_cache's access log from
// request from on: requests by cache status and status, ranged or not;
// and it returns the log's length in requests.
func describeNginxCache(t *testing.T, n *harness.Nginx, from int) (string, int) {
	t.Helper()
	reqs, err := n.AccessLog()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range reqs[min(from, len(reqs)):] {
		key := fmt.Sprintf("%s/%d", r.Cache, r.Status)
		if r.Range != "" {
			key += " ranged"
		}
		counts[key]++
	}
	return joinCounts(counts), len(reqs)
}

// describeSquid summarises squid's access log from line from on:
// requests by cache result and status, and how many carried a Range
// header; and it returns the log's length in lines. With no squid it
// returns "-" and 0.
func describeSquid(t *testing.T, s *harness.Squid, from int) (string, int) {
	t.Helper()
	b, err := os.ReadFile(s.AccessLogPath())
	if err != nil {
		t.Fatal(err)
	}
	ls := lines(b)
	counts := map[string]int{}
	for _, l := range ls[min(from, len(ls)):] {
		// time, duration, client, result/status, bytes, method, URL, "range", hierarchy
		f := strings.Fields(l)
		if len(f) < 9 || f[5] != "GET" {
			continue
		}
		key := f[3]
		if f[7] != `"-"` {
			key += " ranged"
		}
		counts[key]++
	}
	return joinCounts(counts), len(ls)
}

func joinCounts(counts map[string]int) string {
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d; ", k, counts[k])
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// stopMounts stops mounts, all at once, and checks each exits cleanly.
func stopMounts(t *testing.T, mounts []*mount) {
	t.Helper()
	var wg sync.WaitGroup
	for _, m := range mounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Process.Stop(context.Background(), stopTimeout); err != nil {
				t.Errorf("stop the mount on %s: %v", m.dir, err)
			}
			if err := harness.Unmount(m.dir); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// keepLog copies the log at path to name in PIECEFS_FLEET_LOGS, if set.
func keepLog(t *testing.T, path, name string) {
	dir := os.Getenv("PIECEFS_FLEET_LOGS")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	if err != nil {
		t.Errorf("keep %s: %v", name, err)
	}
}

// mib formats bytes in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
