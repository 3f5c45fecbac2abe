package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
	"github.com/piecefs/piecefs/meta"
)

// coldSuite runs every cold measurement of s into column c: each run
// starts with an empty cache directory.
func (b *bench) coldSuite(ctx context.Context, t *table, s system, c column) error {
	if err := b.coldReads(ctx, t, s, c, b.readBig); err != nil {
		return err
	}
	return b.onMountRepeat(ctx, t.coldTar, c, s, true, onMountDir(b.tarTree))
}

// coldReads runs the cold measurements of the big file: sequential (with
// seq), first byte, random.
func (b *bench) coldReads(ctx context.Context, t *table, s system, c column, seq measurement) error {
	if err := b.onMountRepeat(ctx, t.coldSeq, c, s, true, withCPU(t.coldCPU, c, seq)); err != nil {
		return err
	}
	if err := b.ttfb(ctx, t.ttfb, c, s, bigName); err != nil {
		return err
	}
	for d, depth := range depths {
		r := t.random[0][d]
		if err := b.onMountRepeat(ctx, r, c, s, true, b.randomIOPS(depth, r, c)); err != nil {
			return err
		}
	}
	return nil
}

// warmSuite fills the cache of s with everything once, then runs every
// warm measurement into column c: each run is a fresh mount process on the
// full cache directory, with the page cache dropped.
func (b *bench) warmSuite(ctx context.Context, t *table, s system, c column) error {
	prime := func(ctx context.Context, m *mount) (float64, error) {
		if err := readVerified(ctx, m.path(bigName), b.data.bigSize, b.data.bigSHA); err != nil {
			return 0, err
		}
		return b.tarTree(ctx, m.Dir)
	}
	if _, _, err := b.onMount(ctx, s, false, prime); err != nil {
		return fmt.Errorf("fill the %s cache: %w", s.name(), err)
	}
	steps := []struct {
		r  *row
		fn measurement
	}{
		{t.warmSeq, b.readBig},
		{t.hotSeq, b.rereadBig},
		{t.warmTar, onMountDir(b.tarTree)},
		{t.find, onMountDir(b.findAll)},
		{t.random[1][0], b.randomIOPS(depths[0], t.random[1][0], c)},
		{t.random[1][1], b.randomIOPS(depths[1], t.random[1][1], c)},
	}
	for _, st := range steps {
		if err := b.onMountRepeat(ctx, st.r, c, s, false, st.fn); err != nil {
			return err
		}
	}
	return nil
}

// localSuite runs the baselines on the source files, through the page
// cache as any program would, dropping it first where the row says cold.
func (b *bench) localSuite(ctx context.Context, t *table) error {
	local := &mount{Mount: &harness.Mount{Dir: b.data.src}} // not a mount: the directory the mounts mirror
	steps := []struct {
		rows []*row
		fn   measurement
		drop bool
	}{
		{[]*row{t.coldSeq}, withCPU(t.coldCPU, colBase, b.curlBig), true},
		{[]*row{t.warmSeq}, b.readBig, true},
		{[]*row{t.hotSeq}, b.rereadBig, false},
		{[]*row{t.ttfbLocal}, firstByteNow(bigName), true},
		{[]*row{t.coldTar, t.warmTar}, onMountDir(b.tarTree), true},
		{[]*row{t.find}, onMountDir(b.findAll), true},
		{[]*row{t.random[1][0]}, b.randomIOPS(depths[0], t.random[1][0], colBase), true},
		{[]*row{t.random[1][1]}, b.randomIOPS(depths[1], t.random[1][1], colBase), true},
		// A warm read reads and checks the whole 64 KiB block its 4 KiB
		// lie in (the unit of the store's checksums): this is its disk's
		// share.
		{[]*row{t.randomBlocks}, b.randomIOPSOf(depths[0], meta.DefaultBlockSize, t.randomBlocks, colBase), true},
	}
	for _, st := range steps {
		err := b.repeat(ctx, st.rows[0], colBase, func(ctx context.Context) (float64, memUse, error) {
			if st.drop {
				if err := dropCaches(); err != nil {
					return 0, memUse{}, err
				}
			}
			v, err := st.fn(ctx, local)
			return v, memUse{}, err
		})
		if err != nil {
			return err
		}
		for _, r := range st.rows[1:] {
			r.samples[colBase], r.p99[colBase] = st.rows[0].samples[colBase], st.rows[0].p99[colBase]
		}
	}
	return nil
}

// firstByteNow is firstByteMs for a directory that is always ready.
func firstByteNow(file string) measurement {
	return func(_ context.Context, m *mount) (float64, error) {
		d, err := firstByte(m.path(file), time.Now())
		return ms(d), err
	}
}

// curlBig fetches every piece of the big file, in file order, from the
// origin in one curl process (one keep-alive connection), and returns MiB/s.
func (b *bench) curlBig(ctx context.Context, _ *mount) (float64, error) {
	conf := filepath.Join(b.tmp, "curl.conf")
	var n counter
	d, err := timeCmd(ctx, &n, nil, b.tools.curl, "-s", "--fail", "-w", "%{size_download}\n", "-K", conf)
	if err == nil && n.lines != int64(len(b.urls)) {
		err = fmt.Errorf("curl reported %d transfers, want %d", n.lines, len(b.urls))
	}
	return mibps(b.data.bigSize, d), err
}

// writeCurlConf writes the curl config that fetches b.urls to /dev/null.
func (b *bench) writeCurlConf() error {
	var conf []byte
	for _, u := range b.urls {
		conf = fmt.Appendf(conf, "url = %q\noutput = \"/dev/null\"\n", u)
	}
	return os.WriteFile(filepath.Join(b.tmp, "curl.conf"), conf, 0o644)
}

// ceilingSuite measures a go-fuse mount served from memory (see
// startCeiling) into the baseline column of the ceiling rows: its file read
// sequentially, the page cache dropped before each run; re-read hot; read
// at random (4 KiB, qd1); and its copy of the tree walked by tar and find,
// the kernel's caches dropped before each run, so that every entry is
// looked up again as on a fresh mount.
func (b *bench) ceilingSuite(ctx context.Context, t *table) error {
	size := ceilingSize(b.data.bigSize, b.data.treeBytes)
	m, err := b.startCeiling(ctx, size, b.data.treePath())
	if err != nil {
		return err
	}
	read := func(ctx context.Context, m *mount) (float64, error) {
		d, err := readSeq(ctx, m.path(ceilingName), size, nil)
		return mibps(size, d), err
	}
	reread := func(ctx context.Context, m *mount) (float64, error) {
		if _, err := read(ctx, m); err != nil {
			return 0, err
		}
		return read(ctx, m)
	}
	steps := []struct {
		r  *row
		fn measurement
	}{
		{t.ceiling, read},
		{t.hotCeiling, reread},
		{t.randomCeiling, b.randomIOPSIn(ceilingName, depths[0], randomBlock, t.randomCeiling, colBase)},
		{t.tarCeiling, onMountDir(b.tarTree)},
		{t.findCeiling, onMountDir(b.findAll)},
	}
	for _, st := range steps {
		err = b.repeat(ctx, st.r, colBase, func(ctx context.Context) (float64, memUse, error) {
			if err := dropCaches(); err != nil {
				return 0, memUse{}, err
			}
			v, err := st.fn(ctx, m)
			return v, memUse{}, err
		})
		if err != nil {
			break
		}
	}
	if stopErr := m.stop(); err == nil {
		err = stopErr
	}
	if size != b.data.bigSize {
		t.ceiling.note = fmt.Sprintf("ceiling file %s (the big file would not fit in memory twice)", formatSize(size))
	}
	return err
}

// ceilingSize is the size of the ceiling file: the big file's, unless that
// and the tree's other bytes, which the child holds too, would take more
// than a quarter of the available memory, then 1 GiB.
func ceilingSize(big, tree int64) int64 {
	st, err := procMeminfo()
	if err != nil || big+tree <= st/4 {
		return big
	}
	return min(big, 1<<30)
}

// procMeminfo returns MemAvailable in bytes.
func procMeminfo() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	var kb int64
	for _, l := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(l, "MemAvailable: %d kB", &kb); err == nil {
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/meminfo: no MemAvailable")
}
