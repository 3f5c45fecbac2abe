package main

import (
	"context"
	"fmt"
)

// measure runs the whole plan: the FUSE ceiling, the local baselines,
// piecefs cold then warm, and rclone cold then warm. A failure of rclone
// is reported in the notes, not as a failure of the benchmark.
func (b *bench) measure(ctx context.Context, t *table) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"FUSE ceiling", func(ctx context.Context) error { return b.ceilingSuite(ctx, t) }},
		{"local baselines", func(ctx context.Context) error { return b.localSuite(ctx, t) }},
		{"piecefs cold", func(ctx context.Context) error { return b.coldSuite(ctx, t, b.piecefs, colPiecefs) }},
		{"piecefs first byte, procedural file", func(ctx context.Context) error { return b.hugeTTFB(ctx, t) }},
		{"piecefs warm", func(ctx context.Context) error { return b.warmSuite(ctx, t, b.piecefs, colPiecefs) }},
	}
	for _, st := range steps {
		if err := b.timed(ctx, st.name, st.fn); err != nil {
			return err
		}
	}
	return b.measureRclone(ctx, t)
}

func (b *bench) hugeTTFB(ctx context.Context, t *table) error {
	if t.ttfbHuge == nil {
		return nil
	}
	t.ttfbHuge.note = fmt.Sprintf("procedural manifest: %d pieces of 4 MiB, only the first %d exist at the origin", b.cfg.ttfbGiB<<8, realHugePieces)
	return b.ttfb(ctx, t.ttfbHuge, colPiecefs, b.huge, hugeName)
}

func (b *bench) measureRclone(ctx context.Context, t *table) error {
	if b.rclone == nil {
		b.note("rclone is not installed (or nothing serves the source tree): no rclone column")
		return nil
	}
	for _, st := range []struct {
		name string
		fn   func(context.Context, *table, system, column) error
	}{{"rclone cold", b.coldSuite}, {"rclone warm", b.warmSuite}} {
		err := b.timed(ctx, st.name, func(ctx context.Context) error { return st.fn(ctx, t, b.rclone, colRclone) })
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err != nil {
			b.logf("  %v", err)
			b.note("rclone failed, its column is incomplete: %v", firstLine(err.Error()))
			return nil
		}
	}
	return nil
}
