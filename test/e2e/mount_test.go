package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

// readyLine is the one line piecefs mount prints once the mount is ready.
var readyLine = regexp.MustCompile(`^mounted (sha256:[0-9a-f]{64}) at (.+)$`)

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
	m := &mount{dir: mnt}
	m.proc = startProc(t, fx.bin, mountArgs(origin, mnt, cache, extra)...)
	t.Cleanup(func() { m.cleanup(t) })
	line, err := m.firstLine(readyTimeout)
	if err != nil {
		t.Fatalf("piecefs mount %s %s: %v", strings.Join(extra, " "), origin, err)
	}
	match := readyLine.FindStringSubmatch(line)
	if match == nil || match[2] != mnt {
		t.Fatalf("piecefs mount printed %q, want %q", line, "mounted sha256:<hex> at "+mnt)
	}
	m.digest = match[1]
	if !isMounted(t, mnt) {
		t.Fatalf("piecefs mount printed %q, but %s is not in /proc/mounts", line, mnt)
	}
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
		t.Errorf("piecefs mount exited with %v after %s, want status 0\nstderr: %s", m.err, how, m.stderrTail())
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
	if !m.exited() {
		m.signal(syscall.SIGTERM)
		if !m.wait(15 * time.Second) {
			m.signal(syscall.SIGKILL)
			m.wait(10 * time.Second)
		}
	}
	unmount(t, m.dir)
}

// unmount removes a mount (dead or alive) from dir: umount, then lazily.
func unmount(t *testing.T, dir string) {
	for _, args := range [][]string{{dir}, {"-l", dir}} {
		if !isMounted(t, dir) {
			return
		}
		runTool(30*time.Second, "", "umount", args...)
	}
	if isMounted(t, dir) {
		t.Errorf("%s is still mounted after umount -l", dir)
	}
}

// isMounted reports whether dir is a mountpoint in /proc/mounts. It reads
// the table, never the mount, so a dead FUSE mount cannot hang it.
func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 1 && unescapeMount(fields[1]) == dir {
			return true
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return false
}

// unescapeMount undoes the octal escapes (\040 for a space) of /proc/mounts.
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
	stderr := p.stderr.Bytes()
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
