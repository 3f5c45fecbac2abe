package e2e

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
	"github.com/piecefs/piecefs/meta"
)

// What piecefs verify prints on stdout.
var (
	verifyBadLine   = regexp.MustCompile(`^bad (sha256:[0-9a-f]{64}): \S.*$`)
	verifySummary   = regexp.MustCompile(`(?m)^checked ([0-9]+) pieces, ([0-9]+) bad\b`)
	verifyRefetched = regexp.MustCompile(`\brefetched ([0-9]+)\b`)
)

// verifyResult is one run of piecefs verify, its output parsed.
type verifyResult struct {
	args           []string
	stdout, stderr string
	code           int
	elapsed        time.Duration
	bad            []meta.Digest // from the bad lines, sorted
	checked, nbad  int           // from the summary line; -1 if none
	refetched      int           // -1 if not printed
}

// runVerify runs piecefs verify with args; a run that hangs fails the test.
func runVerify(t *testing.T, args ...string) verifyResult {
	t.Helper()
	o := runTool(toolTimeout, "", fx.bin, append([]string{"verify"}, args...)...)
	if o.timedOut {
		t.Fatalf("piecefs verify %s: still running after %v", strings.Join(args, " "), toolTimeout)
	}
	r := verifyResult{args: args, stdout: string(o.stdout), stderr: string(o.stderr), elapsed: o.elapsed,
		code: harness.ExitCode(o.err), checked: -1, nbad: -1, refetched: -1}
	for _, l := range lines(o.stdout) {
		if m := verifyBadLine.FindStringSubmatch(l); m != nil {
			d, err := meta.ParseDigest(m[1])
			if err != nil {
				t.Fatalf("piecefs verify printed %q: %v", l, err)
			}
			r.bad = append(r.bad, d)
		}
	}
	slices.SortFunc(r.bad, verifyCompare)
	if m := verifySummary.FindStringSubmatch(r.stdout); m != nil {
		r.checked, _ = strconv.Atoi(m[1])
		r.nbad, _ = strconv.Atoi(m[2])
	}
	if m := verifyRefetched.FindStringSubmatch(r.stdout); m != nil {
		r.refetched, _ = strconv.Atoi(m[1])
	}
	return r
}

// expect checks the status, the summary (checked pieces, bad count) and
// the pieces named on bad lines.
func (r verifyResult) expect(t *testing.T, code, checked int, bad []meta.Digest) {
	t.Helper()
	cmd := "piecefs verify " + strings.Join(r.args, " ")
	if r.code != code {
		t.Errorf("%s: status %d, want %d\nstdout: %s\nstderr: %s", cmd, r.code, code, r.stdout, r.stderr)
	}
	if r.checked != checked || r.nbad != len(bad) {
		t.Errorf("%s: summary %q, want \"checked %d pieces, %d bad\"\nstdout: %s\nstderr: %s",
			cmd, verifySummary.FindString(r.stdout), checked, len(bad), r.stdout, r.stderr)
	}
	want := slices.SortedFunc(slices.Values(bad), verifyCompare)
	if !slices.Equal(r.bad, want) {
		t.Errorf("%s: bad lines name %v, want %v\nstdout: %s", cmd, r.bad, want, r.stdout)
	}
}

// verifyFlipByte inverts the byte in the middle of a file, in place.
func verifyFlipByte(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := fi.Size() / 2
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// verifyCut truncates a file to half its size.
func verifyCut(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}
