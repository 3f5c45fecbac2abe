package e2e

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// toolTimeout bounds one tool run against a mount, so a read that hangs
// fails its test instead of hanging the suite.
const toolTimeout = 2 * time.Minute

// output is what one tool run produced.
type output struct {
	stdout, stderr []byte
	err            error // nil when the tool exited 0
	timedOut       bool
	elapsed        time.Duration
}

// runTool runs name in dir (the test's working directory if empty) with
// the C locale, so messages such as "Input/output error" read the same
// everywhere, and kills it (its process group) after timeout.
func runTool(timeout time.Duration, dir, name string, args ...string) output {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout bytes.Buffer
	p, err := harness.Run(ctx, harness.Command{Path: name, Args: args, Dir: dir, Stdout: &stdout})
	out := output{stdout: stdout.Bytes(), err: err, timedOut: errors.Is(ctx.Err(), context.DeadlineExceeded)}
	if p != nil && p.Exited() {
		out.stderr, out.elapsed = p.Stderr(), p.ExitTime().Sub(p.StartTime())
	}
	return out
}

// mustRun runs a tool that must succeed and returns its stdout.
func mustRun(t *testing.T, dir, name string, args ...string) []byte {
	t.Helper()
	out := runTool(toolTimeout, dir, name, args...)
	if out.err != nil {
		t.Fatalf("%s %s: %v (timed out: %v)\nstderr: %s", name, strings.Join(args, " "), out.err, out.timedOut, tail(out.stderr))
	}
	return out.stdout
}

// mustFail runs a tool that must fail with the errno text want on stderr.
func mustFail(t *testing.T, timeout time.Duration, want, name string, args ...string) output {
	t.Helper()
	out := runTool(timeout, "", name, args...)
	cmdline := name + " " + strings.Join(args, " ")
	switch {
	case out.timedOut:
		t.Errorf("%s: still running after %v, want it to fail with %q", cmdline, timeout, want)
	case out.err == nil:
		t.Errorf("%s: succeeded, want it to fail with %q", cmdline, want)
	case !bytes.Contains(out.stderr, []byte(want)):
		t.Errorf("%s: failed (%v) with stderr %q, want %q in it", cmdline, out.err, tail(out.stderr), want)
	}
	return out
}

// tail returns the end of a long output, enough to see why a process failed.
func tail(b []byte) string { return harness.Tail(b, 6000) }

// lines splits a tool's output into lines without the trailing empty one.
func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
