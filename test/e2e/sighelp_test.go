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

const (
	// sigENOTCONN is how the C locale words ENOTCONN, which a reader of a
	// mount whose server went away gets.
	sigENOTCONN = "Transport endpoint is not connected"
	// sigExitForced is piecefs mount's exit status after a second signal.
	sigExitForced = 3
)

// sigBigSource opens the shared tree's big file, for comparing readers'
// output with it.
func sigBigSource(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join(fx.tree.root, fx.tree.big))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// sigDD is a dd of [off, +n) of the shared big file on mnt, with limit as
// its hang detector.
func sigDD(src *os.File, mnt string, off, n int64, limit time.Duration) crashRead {
	return crashRead{
		what:  fmt.Sprintf("dd %s [%d, +%d)", fx.tree.big, off, n),
		src:   src,
		off:   off,
		limit: limit,
		argv:  append([]string{"dd"}, ddArgs(filepath.Join(mnt, fx.tree.big), off, n)...),
	}
}

// sigWaitGone polls the mount table until dir is no longer a mountpoint,
// up to limit, and returns how long that took and whether it happened.
func sigWaitGone(t *testing.T, dir string, limit time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	err := harness.WaitUnmounted(ctx, dir)
	return time.Since(start), err == nil
}

// sigExpectExit checks that the mount exits with status want after how,
// and leaves nothing mounted.
func sigExpectExit(t *testing.T, m *mount, want int, how string) {
	t.Helper()
	if !m.wait(stopTimeout) {
		t.Fatalf("piecefs mount still running %v after %s\nstderr: %s", stopTimeout, how, m.stderrTail())
	}
	if got := m.exitCode(); got != want {
		t.Errorf("piecefs mount exited with status %d (%v) after %s, want %d\nstderr: %s", got, m.Err(), how, want, m.stderrTail())
	}
	if isMounted(t, m.dir) {
		t.Errorf("%s is still in /proc/mounts after %s and exit", m.dir, how)
	}
}

// sigCheckCache checks the cache a stopped mount leaves: a database another
// process can open whose bbolt check is clean, every recorded piece right
// on disk, and no .part file.
func sigCheckCache(t *testing.T, cache string) {
	t.Helper()
	checkDBIntegrity(t, cache)
	n := checkRecordedPieces(t, cache)
	if _, parts := cacheFiles(cache); len(parts) > 0 {
		t.Errorf(".part files left after the mount exited: %q", firstN(parts))
	}
	t.Logf("%d pieces recorded complete, all present and right", n)
}
