package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
	"github.com/piecefs/piecefs/meta"
)

// The container start-up mode (-containers, issue 10): a Debian root file
// system made with debootstrap, made a one-layer OCI image with umoci,
// imported with `piecefs import`, served by nginx, and started with runc to
// run a short Python program, on the local disk and on piecefs cold, cold
// with a recorded prefetch list, and warm. It shares the run's machinery
// (temporary directory, build, origin, relays, cleanup) but none of the
// default run's data or rows.

// Tags of the imported image: without and with the recorded prefetch list.
const (
	ctrTag         = "latest"
	ctrPrefetchTag = "prefetch"
)

// ctrBench is one run of the container mode.
type ctrBench struct {
	*bench
	rootfs string // the debootstrap tree: the image's content and the local baseline's root
	image  string // the OCI image as piecefs import takes it, DIR:REF
	out    string // the publication
	record string // the prefetch list the recording start wrote
	spec   []byte // config.json of a mount's --bundle, for the local runs
	runc   string
	relay  *relay
	info   ctrInfo
	seq    int // numbers container names
}

// ctrInfo is what the run learns about the image and the start, for the
// notes.
type ctrInfo struct {
	imageBytes int64 // the manifest's pieces
	pieces     int
	entries    int
	manifest   int64 // the manifest's encoded size
	readBytes  int64 // the recorded ranges' lengths: what the start reads
	readRanges int
	readFiles  int
	outputLine string
	prefetch   []prefetchRun // what the timed mounts' logs said of their prefetch
}

// runContainers runs the container mode and prints its table.
func runContainers(ctx context.Context, cfg config, stdout, logw io.Writer) (err error) {
	if err := requireRoot(); err != nil {
		return err
	}
	c := &ctrBench{bench: &bench{cfg: cfg, logw: logw, clean: &cleaner{}}}
	ctx, release := trapSignals(ctx, c.clean, logw)
	defer release()
	defer c.clean.run()
	defer func() {
		if errors.Is(context.Cause(ctx), errInterrupted) {
			err = errInterrupted
		}
	}()
	start, load := time.Now(), loadAvg()
	if err := c.setup(ctx); err != nil {
		return err
	}
	t := newCtrTable()
	if err := c.measure(ctx, t); err != nil {
		return err
	}
	t.finish(c.info)
	c.note("1-minute load average %s at the start, %s at the end, on %d CPUs: other work on the machine skews every time", load, loadAvg(), runtime.NumCPU())
	c.phases = append(c.phases, phase{"total", time.Since(start).Seconds()})
	return c.ctrReport(ctx, t, stdout)
}

// setup finds the tools, builds piecefs, makes (or finds cached) the root
// file system and its image, imports it and starts the origin and a
// counting relay in front of it.
func (c *ctrBench) setup(ctx context.Context) error {
	nginx, _ := harness.NginxPath()
	c.tools = tools{nginx: nginx}
	if c.runc = lookTool("runc"); c.runc == "" {
		return errors.New("-containers needs runc (apt-get install runc)")
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"make the temporary directory", c.makeTemp},
		{"build piecefs", c.build},
		{"root file system (debootstrap, or the cached one)", c.makeRootfs},
		{"OCI image (umoci, or the cached one)", c.makeImage},
		{"piecefs import", c.importImage},
		{"start the origin", c.startCtrOrigin},
	}
	for _, st := range steps {
		if err := c.timed(ctx, st.name, st.fn); err != nil {
			return err
		}
	}
	return nil
}

// importImage imports the image into a new publication, tagged ctrTag, and
// reads what the manifest says about it.
func (c *ctrBench) importImage(ctx context.Context) error {
	c.out = filepath.Join(c.tmp, "out")
	d, err := c.runImport(ctx, ctrTag)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(c.out, filepath.FromSlash(meta.ManifestPath(d))))
	if err != nil {
		return err
	}
	m, err := meta.Decode(b)
	if err != nil {
		return err
	}
	c.info.manifest, c.info.pieces, c.info.entries = int64(len(b)), len(m.Pieces), len(m.Entries)
	for _, p := range m.Pieces {
		c.info.imageBytes += p.Size
	}
	c.logf("  %d entries, %d pieces (%s), manifest %s", c.info.entries, c.info.pieces, humanSize(c.info.imageBytes), humanSize(c.info.manifest))
	return nil
}

// runImport runs piecefs import of the image into the publication under
// tag, with extra flags, and returns the manifest's digest.
func (c *ctrBench) runImport(ctx context.Context, tag string, extra ...string) (meta.Digest, error) {
	args := append([]string{"import", "--log-level", "warn", "--tag", tag}, extra...)
	s, err := output(ctx, c.bin, append(args, c.image, c.out)...)
	if err != nil {
		return meta.Digest{}, err
	}
	d, err := meta.ParseDigest(s)
	if err != nil {
		return meta.Digest{}, fmt.Errorf("piecefs import printed %q: %w", s, err)
	}
	return d, nil
}

// startCtrOrigin serves the publication with nginx (or piecefs serve) and
// puts a counting relay in front of it for the bytes rows.
func (c *ctrBench) startCtrOrigin(ctx context.Context) (err error) {
	empty := filepath.Join(c.tmp, "empty") // the second site the origin helpers serve; nothing reads it
	if err := os.Mkdir(empty, 0o755); err != nil {
		return err
	}
	if c.tools.nginx != "" {
		c.origin, err = c.startNginx(ctx, c.out, empty)
	} else {
		c.note("nginx is not installed: the origin is `piecefs serve`")
		c.origin, err = c.startServe(ctx, c.out, empty)
	}
	if err != nil {
		return err
	}
	c.relay, err = c.startRelay(c.origin.url)
	return err
}
