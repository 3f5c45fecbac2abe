package main

import (
	"context"
	"fmt"
	"path/filepath"
)

// preheatSuite is issue 9's measurement, side by side in one run: the big
// file read through a fresh mount cold from the origin (the baseline of
// both read rows), read after `piecefs preheat` put it in the memory tier,
// and read from the disk tier with the memory tier cold (a fresh mount of
// the preheated cache). The mount's memory tier is the big file's size
// plus 512 MiB so that the preheat keeps all of it; the peak RSS row leaves
// these mounts out.
func (b *bench) preheatSuite(ctx context.Context, t *table) error {
	s := &piecefsMount{b: b, url: b.origin.url, tag: "latest", memory: b.data.bigSize + 512<<20,
		cache: filepath.Join(b.tmp, "cache-preheat"), mnt: filepath.Join(b.tmp, "mnt-preheat")}
	mem, disk := t.preheatMem, t.preheatDisk
	err := b.repeat(ctx, mem, colBase, func(ctx context.Context) (float64, memUse, error) {
		v, _, err := b.onMount(ctx, s, true, b.readBig)
		return v, memUse{}, err
	})
	if err != nil {
		return err
	}
	disk.samples[colBase] = mem.samples[colBase]
	err = b.repeat(ctx, mem, colPiecefs, func(ctx context.Context) (float64, memUse, error) {
		v, _, err := b.onMount(ctx, s, true, func(ctx context.Context, m *mount) (float64, error) {
			var out counter
			d, err := timeCmd(ctx, &out, nil, b.bin, "preheat", m.path(bigName))
			if err != nil {
				return 0, fmt.Errorf("piecefs preheat: %w", err)
			}
			t.preheatRate.add(colPiecefs, mibps(b.data.bigSize, d), memUse{})
			if err := dropCaches(); err != nil {
				return 0, err
			}
			return b.readBig(ctx, m)
		})
		return v, memUse{}, err
	})
	if err != nil {
		return err
	}
	// The cache holds the whole file now: each run is a new process, its
	// memory tier empty.
	return b.repeat(ctx, disk, colPiecefs, func(ctx context.Context) (float64, memUse, error) {
		v, _, err := b.onMount(ctx, s, false, b.readBig)
		return v, memUse{}, err
	})
}
