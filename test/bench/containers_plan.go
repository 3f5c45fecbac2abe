package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// measure runs the container mode's plan: a recording start (which also
// writes the bundle spec the local runs reuse and fills the warm cache),
// the local baseline, piecefs warm, piecefs cold, the import with the
// recorded list, and piecefs cold of that.
func (c *ctrBench) measure(ctx context.Context, t *ctrTable) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"record a start (piecefs cold, --record)", c.recordStart},
		{"local disk", func(ctx context.Context) error { return c.localStarts(ctx, t) }},
		{"piecefs exec, page cache dropped", func(ctx context.Context) error { return c.execStarts(ctx, t) }},
		{"piecefs warm", func(ctx context.Context) error { return c.variant(ctx, t.warm, ctrTag, c.warmCache(), false) }},
		{"piecefs cold", func(ctx context.Context) error { return c.variant(ctx, t.cold, ctrTag, c.coldCache(), true) }},
		{"piecefs import --prefetch", c.importPrefetch},
		{"piecefs cold, prefetch list", func(ctx context.Context) error {
			return c.variant(ctx, t.prefetch, ctrPrefetchTag, c.coldCache(), true)
		}},
	}
	for _, st := range steps {
		if err := c.timed(ctx, st.name, st.fn); err != nil {
			return err
		}
	}
	return nil
}

func (c *ctrBench) warmCache() string { return filepath.Join(c.tmp, "cache-warm") }
func (c *ctrBench) coldCache() string { return filepath.Join(c.tmp, "cache-cold") }
func (c *ctrBench) mnt() string       { return filepath.Join(c.tmp, "mnt") }

// recordStart starts the container once on a cold mount with --record,
// into the warm runs' cache, and reads the list it wrote at unmount: the
// bytes the start reads.
func (c *ctrBench) recordStart(ctx context.Context) error {
	c.record = filepath.Join(c.tmp, "start.prefetch.json")
	s := &ctrMount{c: c, url: c.origin.url, tag: ctrTag, cache: c.warmCache(), mnt: c.mnt(), extra: []string{"--record", c.record}}
	st, m, err := c.startOn(ctx, s, true)
	if m != nil {
		err = errors.Join(err, m.stop())
	}
	if err != nil {
		return err
	}
	c.logf("  output %.3f s after the mount started: %q", st.output.Seconds(), c.info.outputLine)
	b, err := os.ReadFile(c.record)
	if err != nil {
		return err
	}
	l, err := meta.DecodePrefetch(b)
	if err != nil {
		return fmt.Errorf("the recorded list: %w", err)
	}
	files := map[string]bool{}
	for _, r := range l.Ranges {
		c.info.readBytes += r.Length
		files[r.Path] = true
	}
	c.info.readRanges, c.info.readFiles = len(l.Ranges), len(files)
	c.logf("  the start read %s in %d ranges of %d files", humanSize(c.info.readBytes), c.info.readRanges, c.info.readFiles)
	return nil
}

// localStarts runs the baseline: runc on the root file system on disk.
func (c *ctrBench) localStarts(ctx context.Context, t *ctrTable) error {
	for i := range c.cfg.runs {
		st, err := c.startLocal(ctx)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		t.local = append(t.local, st)
		c.vlogf("  local run %d: %.3f s", i+1, st.output.Seconds())
	}
	return nil
}

// execStarts times the piecefs binary from exec to exit, printing its
// usage, with the page cache dropped first: what every start of a mount
// process pays before main runs (reading the binary from disk, the Go
// runtime's and the packages' initialisation), the part of a start that
// no work in the mount can remove.
func (c *ctrBench) execStarts(ctx context.Context, t *ctrTable) error {
	for i := range c.cfg.runs {
		if err := dropCaches(); err != nil {
			return err
		}
		t0 := time.Now()
		if out, err := exec.CommandContext(ctx, c.bin, "--help").CombinedOutput(); err != nil {
			return fmt.Errorf("run %d: %s --help: %w\n%s", i+1, c.bin, err, out)
		}
		t.exec = append(t.exec, time.Since(t0).Seconds())
	}
	return nil
}

// importPrefetch imports the image again, with the recorded list, under
// its own tag.
func (c *ctrBench) importPrefetch(ctx context.Context) error {
	_, err := c.runImport(ctx, ctrPrefetchTag, "--prefetch", c.record)
	return err
}

// variant runs one piecefs variant: cfg.runs timed starts straight from
// the origin, then cfg.runs starts through the counting relay, each on a
// fresh mount (its cache emptied when cold).
func (c *ctrBench) variant(ctx context.Context, v *ctrRows, tag, cache string, cold bool) error {
	direct := &ctrMount{c: c, url: c.origin.url, tag: tag, cache: cache, mnt: c.mnt()}
	err := c.repeat(ctx, v.start, colPiecefs, func(ctx context.Context) (float64, memUse, error) {
		st, m, err := c.startOn(ctx, direct, cold)
		if m != nil {
			err = errors.Join(err, m.stop())
			c.notePrefetch(m)
		}
		v.times = append(v.times, st)
		return st.output.Seconds(), memUse{}, err
	})
	if err != nil {
		return err
	}
	counted := &ctrMount{c: c, url: c.relay.url, tag: tag, cache: cache, mnt: c.mnt(), relay: c.relay}
	return c.repeat(ctx, v.bytes, colPiecefs, func(ctx context.Context) (float64, memUse, error) {
		n, err := c.countedStart(ctx, counted, v, cold)
		return mib(n), memUse{}, err
	})
}

// countedStart makes one start through the relay and returns the bytes the
// origin sent from the mount's start until it had been quiet for
// fetchedQuiet after the container exited (what a prefetch fetches after
// the output counts).
func (c *ctrBench) countedStart(ctx context.Context, s *ctrMount, v *ctrRows, cold bool) (int64, error) {
	before := c.relay.sent.Load()
	_, m, err := c.startOn(ctx, s, cold)
	if m == nil {
		return 0, err
	}
	out := c.relay.sent.Load()
	var after int64
	if err == nil {
		after, err = c.relay.settle(ctx, fetchedQuiet, ctrSettleLimit)
	}
	if err := errors.Join(err, m.stop()); err != nil {
		return 0, err
	}
	v.ready = append(v.ready, mib(s.atReady-before))
	v.out = append(v.out, mib(out-before))
	return after - before, nil
}

// notePrefetch keeps the mount's summary of its prefetch (an info line of
// its log), for the notes.
func (c *ctrBench) notePrefetch(m *mount) {
	for _, l := range strings.Split(string(m.Stderr()), "\n") {
		if p, ok := parsePrefetchLine(l); ok {
			c.info.prefetch = append(c.info.prefetch, p)
		}
	}
}

// prefetchRun is what a mount's log says of its prefetch.
type prefetchRun struct {
	done    bool // "prefetch done", else "prefetch stopped"
	seconds float64
	fetched int64 // bytes
	fetches int
}

// parsePrefetchLine reads the summary line a mount logs at the end of its
// prefetch (logrus text: msg="prefetch done" seconds=… fetched_bytes=…).
func parsePrefetchLine(l string) (prefetchRun, bool) {
	var p prefetchRun
	switch {
	case strings.Contains(l, `msg="prefetch done"`):
		p.done = true
	case !strings.Contains(l, `msg="prefetch stopped"`):
		return p, false
	}
	for _, f := range strings.Fields(l) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "seconds":
			p.seconds, _ = strconv.ParseFloat(v, 64)
		case "fetched_bytes":
			p.fetched, _ = strconv.ParseInt(v, 10, 64)
		case "fetches":
			p.fetches, _ = strconv.Atoi(v)
		}
	}
	return p, true
}
