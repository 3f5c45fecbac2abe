package main

import (
	"context"
	"fmt"
	"io"
)

// runMode runs the mode the flags chose: the container start-up
// benchmark with -containers, else the default run.
func runMode(ctx context.Context, cfg config, stdout, logw io.Writer) error {
	if cfg.containers {
		return runContainers(ctx, cfg, stdout, logw)
	}
	return run(ctx, cfg, stdout, logw)
}

// measure runs the whole plan: the FUSE ceiling, the local and origin
// baselines, piecefs cold, one more cold read profiled, piecefs warm, the
// bytes piecefs fetches, rclone cold then warm, and httpfs2. A failure of
// rclone or httpfs2 is reported in the notes, not as a failure of the
// benchmark (unless -require-tools).
func (b *bench) measure(ctx context.Context, t *table) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"FUSE ceiling", func(ctx context.Context) error { return b.ceilingSuite(ctx, t) }},
		{"local baselines", func(ctx context.Context) error { return b.localSuite(ctx, t) }},
		{"durable disk write", func(ctx context.Context) error { return b.diskWriteSuite(ctx, t) }},
		{"durable block commits", func(ctx context.Context) error { return b.blockCommitSuite(ctx, t) }},
		{"origin baselines (keep-alive range GETs)", func(ctx context.Context) error { return b.originSuite(ctx, t) }},
		{"piecefs cold", func(ctx context.Context) error { return b.coldSuite(ctx, t, b.piecefs, colPiecefs) }},
		{"piecefs cold, profiled", func(ctx context.Context) error { return b.profileSuite(ctx, t) }},
		{"piecefs first byte, procedural file", func(ctx context.Context) error { return b.hugeTTFB(ctx, t) }},
		{"piecefs warm", func(ctx context.Context) error { return b.warmSuite(ctx, t, b.piecefs, colPiecefs) }},
		{"piecefs preheat", func(ctx context.Context) error { return b.preheatSuite(ctx, t) }},
		{"piecefs bytes fetched", func(ctx context.Context) error { return b.fetchedSuite(ctx, t, b.countedPiecefs, colPiecefs) }},
	}
	for _, st := range steps {
		if err := b.timed(ctx, st.name, st.fn); err != nil {
			return err
		}
	}
	if err := b.measureRclone(ctx, t); err != nil {
		return err
	}
	return b.measureHttpfs2(ctx, t)
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
	return b.measurePeer(ctx, "rclone", []peerStep{
		{"rclone cold", func(ctx context.Context) error { return b.coldSuite(ctx, t, b.rclone, colRclone) }},
		{"rclone warm", func(ctx context.Context) error { return b.warmSuite(ctx, t, b.rclone, colRclone) }},
	})
}

// measureHttpfs2 runs httpfs2 where it compares: it has no cache, so only
// the cold rows.
func (b *bench) measureHttpfs2(ctx context.Context, t *table) error {
	if b.httpfs2 == nil {
		b.note("httpfs2 is not installed (or, without nginx, the big file is too large for it): no httpfs2 column; `apt-get install httpfs2`, as .ci/run does")
		return nil
	}
	return b.measurePeer(ctx, "httpfs2", []peerStep{
		{"httpfs2 cold", func(ctx context.Context) error {
			return b.coldReads(ctx, t, b.httpfs2, colHttpfs2, readSized(b.peerSize))
		}},
		{"httpfs2 bytes fetched", func(ctx context.Context) error { return b.fetchedSuite(ctx, t, b.countedHttpfs2, colHttpfs2) }},
	})
}

// peerStep is one timed part of a peer's measurements.
type peerStep struct {
	name string
	fn   func(context.Context) error
}

// measurePeer runs a peer's steps; the first failure ends them and becomes
// a note, or the run's error with -require-tools.
func (b *bench) measurePeer(ctx context.Context, peer string, steps []peerStep) error {
	for _, st := range steps {
		err := b.timed(ctx, st.name, st.fn)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err != nil && b.cfg.requireTools {
			return err
		}
		if err != nil {
			b.logf("  %v", err)
			b.note("%s failed, its column is incomplete: %v", peer, firstLine(err.Error()))
			return nil
		}
	}
	return nil
}
