package e2e

import (
	"strings"
	"testing"
	"time"
)

// dmgExit is how a `piecefs mount` that was expected to fail ended.
type dmgExit struct {
	code    int
	stderr  string
	elapsed time.Duration // from start to exit
}

// dmgMountExit runs `piecefs mount` on a new mountpoint and waits up to
// limit for it to exit by itself. It fails the test if the mount printed
// its ready line or left a mount behind. (mountFails does the same but
// hides the exit status and the time, which these tests check.)
func dmgMountExit(t *testing.T, origin, cache string, limit time.Duration) dmgExit {
	t.Helper()
	requireFUSE(t)
	mnt := newMountpoint(t)
	start := time.Now()
	p := startProc(t, fx.bin, mountArgs(origin, mnt, cache, nil)...)
	t.Cleanup(func() { unmount(t, mnt) })
	if !p.wait(limit) {
		stopProc(p)
		t.Fatalf("piecefs mount --cache %s: still running after %v, want it to fail\nstdout: %q\nstderr: %s",
			cache, limit, p.stdoutLines(), p.stderrTail())
	}
	e := dmgExit{code: p.exitCode(), stderr: string(p.Stderr()), elapsed: time.Since(start)}
	if ls := p.stdoutLines(); len(ls) > 0 {
		t.Errorf("piecefs mount --cache %s printed %q, want nothing on stdout", cache, ls)
	}
	if isMounted(t, mnt) {
		t.Errorf("failed piecefs mount left %s mounted", mnt)
	}
	return e
}

// expectError checks that the mount exited 1 with a one-line error that
// starts like every piecefs error, contains each of wants, and is not a
// panic.
func (e dmgExit) expectError(t *testing.T, wants ...string) {
	t.Helper()
	last := dmgLastLine(e.stderr)
	t.Logf("exit status %d after %v; last line of stderr: %s", e.code, e.elapsed.Round(time.Millisecond), last)
	if e.code != exitErrorStatus {
		t.Errorf("exit status %d, want %d\nstderr: %s", e.code, exitErrorStatus, tail([]byte(e.stderr)))
	}
	if strings.Contains(e.stderr, "panic:") || strings.Contains(e.stderr, "goroutine ") {
		t.Errorf("stderr holds a panic or a stack trace:\n%s", tail([]byte(e.stderr)))
	}
	if !strings.HasPrefix(last, "piecefs mount: ") {
		t.Errorf("last line of stderr %q, want the error as one line starting %q", last, "piecefs mount: ")
	}
	for _, w := range wants {
		if !strings.Contains(last, w) {
			t.Errorf("error %q does not contain %q", last, w)
		}
	}
}

// exitErrorStatus is the status of a command that failed (README.md).
const exitErrorStatus = 1

func dmgLastLine(s string) string {
	ls := lines([]byte(strings.TrimRight(s, "\n")))
	if len(ls) == 0 {
		return ""
	}
	return ls[len(ls)-1]
}
