package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// crashRead describes a reader subprocess: a tool that reads a file on a
// mount and writes what it read, from source offset off on, to stdout.
type crashRead struct {
	what  string      // for messages, e.g. "dd big.bin [5, +9)"
	src   io.ReaderAt // the source the output must match
	off   int64       // the source offset of the first output byte
	limit time.Duration
	stdin io.Reader // nil: /dev/null
	argv  []string
}

// crashReader is a running reader subprocess. Its stdout is compared with
// the source as it arrives, so a reader of hundreds of MiB costs no memory;
// limit is its hang detector: the reader's process group is killed then.
type crashReader struct {
	crashRead
	*proc
	cmp *crashCompare
	ctx context.Context // ends at the hang detector's limit
}

// crashStartReader starts a reader. A cleanup kills it if it is still
// running when the test ends.
func crashStartReader(t *testing.T, r crashRead) *crashReader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.limit)
	p := &crashReader{crashRead: r, ctx: ctx, cmp: &crashCompare{src: r.src, off: r.off, bad: -1}}
	hp, err := harness.Start(harness.Command{Path: r.argv[0], Args: r.argv[1:], Stdin: r.stdin, Stdout: p.cmp})
	if err != nil {
		cancel()
		t.Fatalf("start %s: %v", r.what, err)
	}
	p.proc = &proc{hp}
	stopKill := context.AfterFunc(ctx, p.Kill)
	go func() {
		<-p.Done()
		stopKill()
		cancel()
	}()
	t.Cleanup(p.kill)
	return p
}

// kill stops a reader that outlived its use and reaps it.
func (p *crashReader) kill() {
	p.Kill()
	<-p.Done()
}

// timedOut reports whether the hang detector killed the reader.
func (p *crashReader) timedOut() bool {
	<-p.Done()
	return errors.Is(p.ctx.Err(), context.DeadlineExceeded) && p.elapsed() >= p.limit
}

// elapsed is how long the reader ran.
func (p *crashReader) elapsed() time.Duration {
	<-p.Done()
	return p.ExitTime().Sub(p.StartTime())
}

// checkBytes reports bytes on stdout that differ from the source.
func (p *crashReader) checkBytes() error {
	n, bad := p.cmp.result()
	if bad >= 0 {
		return fmt.Errorf("%s: byte at source offset %d differs from the source (%d bytes read)", p.what, bad, n)
	}
	return nil
}

// expectComplete checks that the reader exited 0, within its limit, having
// written exactly want bytes, all equal to the source.
func (p *crashReader) expectComplete(t *testing.T, want int64) {
	t.Helper()
	if !p.wait(p.limit + 10*time.Second) {
		t.Errorf("%s: still running after its hang detector should have killed it", p.what)
		return
	}
	switch n, _ := p.cmp.result(); {
	case p.timedOut():
		t.Errorf("%s: still running after %v (killed as hung), %d bytes read\nstderr: %s", p.what, p.limit, n, p.Stderr())
	case p.exitCode() != 0:
		t.Errorf("%s: %v after %v, %d bytes read\nstderr: %s", p.what, p.Err(), p.elapsed(), n, p.Stderr())
	case n != want:
		t.Errorf("%s: read %d bytes, want %d", p.what, n, want)
	}
	if err := p.checkBytes(); err != nil {
		t.Error(err)
	}
}

// expectFailure checks that the reader failed, within limit of its start,
// with one of the errno texts wants in the first line of its stderr (the
// error that stopped it: later lines, such as dd's on closing, tell
// something else), and that what it read before failing is right.
func (p *crashReader) expectFailure(t *testing.T, limit time.Duration, wants ...string) {
	t.Helper()
	if !p.wait(time.Until(p.StartTime().Add(limit))) {
		n, _ := p.cmp.result()
		t.Errorf("%s: still running %v after it started, %d bytes read; want it failed with one of %q", p.what, limit, n, wants)
		p.kill()
		return
	}
	stderr := string(p.Stderr())
	first, _, _ := strings.Cut(stderr, "\n")
	switch {
	case p.timedOut():
		t.Errorf("%s: killed as hung after %v; want it failed with one of %q", p.what, p.limit, wants)
	case p.exitCode() == 0:
		t.Errorf("%s: succeeded after %v; want it failed with one of %q", p.what, p.elapsed(), wants)
	case !containsAny(first, wants):
		t.Errorf("%s: failed (%v) after %v with stderr %q; want one of %q", p.what, p.Err(), p.elapsed(), stderr, wants)
	}
	if err := p.checkBytes(); err != nil {
		t.Error(err)
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// crashCompare is a writer that compares what it is given with src from
// off on and remembers the first difference.
type crashCompare struct {
	src io.ReaderAt
	mu  sync.Mutex // guards the fields below
	off int64      // the source offset of the next byte
	n   int64      // bytes written so far
	bad int64      // source offset of the first differing byte; -1: none
	buf []byte     // scratch for the source's bytes
}

func (c *crashCompare) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bad < 0 {
		c.bad = c.compareLocked(p)
	}
	c.off += int64(len(p))
	c.n += int64(len(p))
	return len(p), nil
}

// compareLocked returns the source offset of the first byte of p that
// differs from the source, or -1. Bytes past the source's end differ.
func (c *crashCompare) compareLocked(p []byte) int64 {
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	want := c.buf[:len(p)]
	n, _ := c.src.ReadAt(want, c.off) // a short read is a difference below
	for i := range p {
		if i >= n || p[i] != want[i] {
			return c.off + int64(i)
		}
	}
	return -1
}

// result returns the bytes written so far and the first bad offset (-1).
func (c *crashCompare) result() (n, bad int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.bad
}

// received is the number of bytes written so far.
func (c *crashCompare) received() int64 {
	n, _ := c.result()
	return n
}
