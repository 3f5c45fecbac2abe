package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// measurement is one run of something on a mount: it returns the value
// for the row.
type measurement func(ctx context.Context, m *mount) (float64, error)

// onMount starts s (cold or warm), drops the page cache, runs fn while
// sampling the mount's memory, and stops the mount.
func (b *bench) onMount(ctx context.Context, s system, cold bool, fn measurement) (float64, memUse, error) {
	m, err := s.start(ctx, cold)
	if err != nil {
		return 0, memUse{}, err
	}
	if err := dropCaches(); err != nil {
		return 0, memUse{}, errors.Join(err, m.stop())
	}
	w := watchRSS(m.PID())
	v, err := fn(ctx, m)
	mem := w.finish()
	if err := errors.Join(err, m.stop()); err != nil {
		return 0, mem, err
	}
	return v, mem, nil
}

// repeat runs one measurement cfg.runs times into a column of r.
func (b *bench) repeat(ctx context.Context, r *row, c column, run func(context.Context) (float64, memUse, error)) error {
	for i := range b.cfg.runs {
		v, mem, err := run(ctx)
		if err != nil {
			return fmt.Errorf("%s (%s, run %d): %w", r.name, colName[c], i+1, err)
		}
		r.add(c, v, mem)
		b.vlogf("  %-36s %-8s run %d: %.3f %s", r.name, colName[c], i+1, v, r.unit)
	}
	return nil
}

// onMountRepeat repeats fn on a fresh mount of s each run.
func (b *bench) onMountRepeat(ctx context.Context, r *row, c column, s system, cold bool, fn measurement) error {
	return b.repeat(ctx, r, c, func(ctx context.Context) (float64, memUse, error) {
		return b.onMount(ctx, s, cold, fn)
	})
}

var colName = [numCols]string{"piecefs", "baseline", "rclone", "httpfs2"}

// readBig reads the big file and returns MiB/s.
func (b *bench) readBig(ctx context.Context, m *mount) (float64, error) {
	return readSized(b.data.bigSize)(ctx, m)
}

// readSized reads the big file of a mount where it holds size bytes, and
// returns MiB/s.
func readSized(size int64) measurement {
	return func(ctx context.Context, m *mount) (float64, error) {
		d, err := readSeq(ctx, m.path(bigName), size, nil)
		return mibps(size, d), err
	}
}

// rereadBig reads the big file twice, checking the bytes the first time,
// and returns the MiB/s of the second read.
func (b *bench) rereadBig(ctx context.Context, m *mount) (float64, error) {
	if err := readVerified(ctx, m.path(bigName), b.data.bigSize, b.data.bigSHA); err != nil {
		return 0, err
	}
	return b.readBig(ctx, m)
}

// firstByteMs measures the time from the mount's ready moment to the first
// byte of a 1-byte read at offset 0 of file, in ms.
func firstByteMs(file string) measurement {
	return func(_ context.Context, m *mount) (float64, error) {
		d, err := firstByte(m.path(file), m.Ready)
		return ms(d), err
	}
}

// ttfb repeats firstByteMs on a cold mount of s. Unlike onMount it drops
// the page cache before the mount starts (start does) and not after, so
// nothing happens between the ready line and the read.
func (b *bench) ttfb(ctx context.Context, r *row, c column, s system, file string) error {
	return b.repeat(ctx, r, c, func(ctx context.Context) (float64, memUse, error) {
		m, err := s.start(ctx, true)
		if err != nil {
			return 0, memUse{}, err
		}
		w := watchRSS(m.PID())
		v, err := firstByteMs(file)(ctx, m)
		mem := w.finish()
		return v, mem, errors.Join(err, m.stop())
	})
}

// tarTree archives the small tree into a pipe the benchmark drains, so
// that tar reads every file (GNU tar skips reading contents when its
// archive is /dev/null), and returns seconds.
func (b *bench) tarTree(ctx context.Context, dir string) (float64, error) {
	var n counter
	d, err := timeCmd(ctx, &n, nil, b.tools.tar, "-cf", "-", "-C", dir, treeName)
	if err == nil && n.bytes < b.data.treeBytes {
		err = fmt.Errorf("tar of %s wrote %d bytes, less than the %d bytes of content", dir, n.bytes, b.data.treeBytes)
	}
	return d.Seconds(), err
}

// findAll lists everything under dir and returns seconds.
func (b *bench) findAll(ctx context.Context, dir string) (float64, error) {
	var n counter
	d, err := timeCmd(ctx, &n, nil, b.tools.find, dir)
	if want := b.data.entries(); err == nil && n.lines != want {
		err = fmt.Errorf("find %s listed %d entries, want %d", dir, n.lines, want)
	}
	return d.Seconds(), err
}

// onMountDir adapts a measurement of a directory to a mount's root.
func onMountDir(fn func(context.Context, string) (float64, error)) measurement {
	return func(ctx context.Context, m *mount) (float64, error) { return fn(ctx, m.Dir) }
}

// randomIOPS runs random reads of the big file at depth and returns IOPS;
// it records the p99 latency in column c of r.
func (b *bench) randomIOPS(depth int, r *row, c column) measurement {
	return b.randomIOPSOf(depth, randomBlock, r, c)
}

// randomIOPSOf is randomIOPS with reads of bs bytes.
func (b *bench) randomIOPSOf(depth int, bs int64, r *row, c column) measurement {
	return b.randomIOPSIn(bigName, depth, bs, r, c)
}

// randomIOPSIn is randomIOPSOf on the mount's file named file.
func (b *bench) randomIOPSIn(file string, depth int, bs int64, r *row, c column) measurement {
	return func(ctx context.Context, m *mount) (float64, error) {
		res, err := b.randomRead(ctx, m.path(file), depth, bs)
		if err == nil {
			r.p99[c] = append(r.p99[c], ms(res.p99))
			b.vlogf("    p99 latency %v", res.p99)
		}
		return res.iops, err
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
