package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

const (
	// fetchTimeout is the --fetch-timeout of every test mount: how long an
	// uncached read may wait for the origin.
	fetchTimeout = 3 * time.Second
	// readyTimeout bounds how long a mount may take to print its ready line.
	readyTimeout = 20 * time.Second
	// stopTimeout bounds how long a mount may take to exit once told to.
	stopTimeout = 20 * time.Second
)

// mount is a running `piecefs mount`.
type mount struct {
	*proc
	dir    string // the mountpoint
	digest string // from the ready line
}

func mountArgs(origin, mnt, cache string, extra []string) []string {
	args := []string{"mount", "--cache", cache, "--fetch-timeout", fetchTimeout.String(), "--log-level", "info"}
	return append(append(args, extra...), origin, mnt)
}

// newMountpoint returns an empty directory to mount on.
func newMountpoint(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startMount mounts origin on a new mountpoint, with cache as its cache
// directory and extra flags, and waits until it is ready.
func startMount(t *testing.T, origin, cache string, extra ...string) *mount {
	t.Helper()
	return startMountAt(t, newMountpoint(t), origin, cache, extra...)
}

// startMountAt is startMount on a given mountpoint.
func startMountAt(t *testing.T, mnt, origin, cache string, extra ...string) *mount {
	t.Helper()
	requireFUSE(t)
	hm, err := harness.StartMount(timeoutCtx(t, readyTimeout), harness.Command{Path: fx.bin, Args: mountArgs(origin, mnt, cache, extra)}, mnt)
	if err != nil {
		t.Fatalf("piecefs mount %s %s: %v", strings.Join(extra, " "), origin, err)
	}
	m := &mount{proc: &proc{hm.Process}, dir: mnt, digest: hm.Digest}
	t.Cleanup(func() { m.cleanup(t) })
	return m
}

// Stop sends SIGTERM and checks the mount exits 0 and is gone.
func (m *mount) Stop(t *testing.T) {
	t.Helper()
	m.signal(syscall.SIGTERM)
	m.expectCleanExit(t, "SIGTERM")
}

// Kill sends SIGKILL and waits for the process; the mount stays, dead.
func (m *mount) Kill(t *testing.T) {
	t.Helper()
	m.signal(syscall.SIGKILL)
	if !m.wait(10 * time.Second) {
		t.Fatalf("piecefs mount survived SIGKILL for 10s")
	}
}

// expectCleanExit checks that the mount exits 0 after how, leaves no mount
// behind, and printed nothing on stdout but its ready line.
func (m *mount) expectCleanExit(t *testing.T, how string) {
	t.Helper()
	if !m.wait(stopTimeout) {
		t.Fatalf("piecefs mount still running %v after %s\nstderr: %s", stopTimeout, how, m.stderrTail())
	}
	if code := m.exitCode(); code != 0 {
		t.Errorf("piecefs mount exited with %v after %s, want status 0\nstderr: %s", m.Err(), how, m.stderrTail())
	}
	if isMounted(t, m.dir) {
		t.Errorf("%s is still in /proc/mounts after %s and exit", m.dir, how)
	}
	if got := m.stdoutLines(); len(got) != 1 {
		t.Errorf("piecefs mount stdout: %q, want only the ready line", got)
	}
}

// cleanup stops the process if it runs and unmounts whatever is left.
func (m *mount) cleanup(t *testing.T) {
	_ = m.Process.Stop(context.Background(), 15*time.Second) // a test that cares checks the exit itself
	unmount(t, m.dir)
}

// unmount removes a mount (dead or alive) from dir: unmount, then lazily.
func unmount(t *testing.T, dir string) {
	if err := harness.Unmount(dir); err != nil {
		t.Error(err)
	}
}

// isMounted reports whether dir is a mountpoint. It reads the mount table,
// never the mount, so a dead FUSE mount cannot hang it.
func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	mounted, err := harness.IsMounted(dir)
	if err != nil {
		t.Fatal(err)
	}
	return mounted
}

// mountFails runs a mount that must fail: exit non-zero without printing
// the ready line and without leaving a mount. It returns the stderr.
func mountFails(t *testing.T, origin, cache string, extra ...string) string {
	t.Helper()
	requireFUSE(t)
	mnt := newMountpoint(t)
	p := startProc(t, fx.bin, mountArgs(origin, mnt, cache, extra)...)
	t.Cleanup(func() { unmount(t, mnt) })
	const limit = time.Minute
	if line, err := p.firstLine(limit); err == nil {
		stopProc(p)
		t.Fatalf("piecefs mount %s %s printed %q, want it to fail", strings.Join(extra, " "), origin, line)
	}
	if !p.exited() {
		stopProc(p)
		t.Fatalf("piecefs mount %s %s still running after %v, want it to fail", strings.Join(extra, " "), origin, limit)
	}
	stderr := p.Stderr()
	if p.exitCode() == 0 {
		t.Errorf("piecefs mount %s %s exited 0, want a failure\nstderr: %s", strings.Join(extra, " "), origin, tail(stderr))
	}
	if strings.TrimSpace(string(stderr)) == "" {
		t.Errorf("piecefs mount %s %s failed without a word on stderr", strings.Join(extra, " "), origin)
	}
	if isMounted(t, mnt) {
		t.Errorf("failed piecefs mount left %s mounted", mnt)
	}
	if ls := lines(stderr); len(ls) > 0 {
		t.Logf("piecefs mount failed as it should: %s", ls[len(ls)-1])
	}
	return string(stderr)
}
