package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// bench is one benchmark run: its configuration, the temporary directory
// everything lives in, and what setup found and made.
type bench struct {
	cfg   config
	logw  io.Writer
	clean *cleaner

	root       string // the module root
	tmp        string
	bin        string // the piecefs binary
	rcloneConf string // an empty rclone config, so ~/.config/rclone is never read
	tools      tools
	data       *dataset
	origin     *origin
	urls       []string  // the big file's pieces, in file order
	pieces     bigPieces // the same, for range GETs

	piecefs, huge *piecefsMount
	rclone        *rcloneMount  // nil when rclone is not installed
	httpfs2       *httpfs2Mount // nil when httpfs2 is not installed
	peerDir       string        // what serves httpfs2 its file; "" without httpfs2
	peerSize      int64         // the size of that file
	// The bytes-fetched rows mount through relays that count what the
	// origin sends; countedHttpfs2 is nil with httpfs2.
	countedPiecefs, countedHttpfs2 *counted

	prof *profiledRead // the profiled cold read; nil until it ran

	notes  []string
	phases []phase
}

// tools are the external programs; "" when one is not installed.
type tools struct {
	nginx, fio, rclone, httpfs2, curl, tar, find string
}

// missingPeers names the optional tools that are not installed.
func (t tools) missingPeers() []string {
	var missing []string
	for _, tool := range []struct{ name, path string }{{"nginx", t.nginx}, {"fio", t.fio}, {"rclone", t.rclone}, {"httpfs2", t.httpfs2}} {
		if tool.path == "" {
			missing = append(missing, tool.name)
		}
	}
	return missing
}

// phase is how long one part of the run took.
type phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// run runs the benchmark and prints the table to stdout, progress to logw.
func run(ctx context.Context, cfg config, stdout, logw io.Writer) (err error) {
	if err := requireRoot(); err != nil {
		return err
	}
	b := &bench{cfg: cfg, logw: logw, clean: &cleaner{}}
	ctx, release := trapSignals(ctx, b.clean, logw)
	defer release()     // after the cleanup, so a ^C during it is still handled
	defer b.clean.run() // also during a panic
	defer func() {
		if errors.Is(context.Cause(ctx), errInterrupted) {
			err = errInterrupted
		}
	}()
	start, load := time.Now(), loadAvg()
	if err := b.setup(ctx); err != nil {
		return err
	}
	t := newTable(cfg)
	if err := b.measure(ctx, t); err != nil {
		return err
	}
	t.finish()
	b.note("1-minute load average %s at the start, %s at the end, on %d CPUs: other work on the machine skews every number", load, loadAvg(), runtime.NumCPU())
	b.phases = append(b.phases, phase{"total", time.Since(start).Seconds()})
	return b.report(ctx, t, stdout)
}

// setup finds the tools, builds piecefs, generates and publishes the data
// and starts the origin.
func (b *bench) setup(ctx context.Context) error {
	b.tools = findTools()
	if b.tools.curl == "" || b.tools.tar == "" || b.tools.find == "" {
		return errors.New("needs curl, tar and find on PATH")
	}
	if missing := b.tools.missingPeers(); b.cfg.requireTools && len(missing) > 0 {
		return fmt.Errorf("-require-tools: %s not installed (.ci/run installs them)", strings.Join(missing, ", "))
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"make the temporary directory", b.makeTemp},
		{"build piecefs", b.build},
		{"generate data", b.generate},
		{"publish", b.publish},
		{"prepare the httpfs2 file", b.preparePeer},
		{"start the origin", b.startOrigin},
		{"start the counting relays", b.startRelays},
	}
	for _, st := range steps {
		if err := b.timed(ctx, st.name, st.fn); err != nil {
			return err
		}
	}
	b.piecefs = b.piecefsAt(b.origin.url, "latest")
	b.huge = b.piecefsAt(b.origin.url, hugeTag)
	if b.tools.rclone != "" && b.origin.srcURL != "" {
		b.rclone = &rcloneMount{b: b, cache: filepath.Join(b.tmp, "cache-rclone"), mnt: filepath.Join(b.tmp, "mnt-rclone")}
	}
	return nil
}

// piecefsAt is a piecefs mount of tag from the origin at url.
func (b *bench) piecefsAt(url, tag string) *piecefsMount {
	return &piecefsMount{b: b, url: url, tag: tag, cache: filepath.Join(b.tmp, "cache-piecefs"), mnt: filepath.Join(b.tmp, "mnt-piecefs")}
}

// startRelays puts a counting relay in front of the publish output for
// piecefs and, when httpfs2 can run, one in front of the big file for it.
func (b *bench) startRelays(context.Context) error {
	r, err := b.startRelay(b.origin.url)
	if err != nil {
		return err
	}
	b.countedPiecefs = &counted{system: b.piecefsAt(r.url, "latest"), relay: r}
	if b.tools.httpfs2 == "" || b.origin.fileURL == "" {
		return nil
	}
	mnt := filepath.Join(b.tmp, "mnt-httpfs2")
	b.httpfs2 = &httpfs2Mount{b: b, url: b.origin.fileURL, mnt: mnt}
	if r, err = b.startRelay(b.origin.fileURL); err != nil {
		return err
	}
	b.countedHttpfs2 = &counted{system: &httpfs2Mount{b: b, url: r.url + "/" + bigName, mnt: mnt}, relay: r}
	return nil
}

// startRelay starts a relay to the server of url and makes the cleanup
// close it.
func (b *bench) startRelay(url string) (*relay, error) {
	r, err := startRelay(url)
	if err != nil {
		return nil, err
	}
	b.clean.add(r.close)
	return r, nil
}

func findTools() tools {
	nginx, _ := harness.NginxPath() // "" when it is not installed
	return tools{
		nginx:   nginx,
		fio:     lookTool("fio"),
		rclone:  lookTool("rclone"),
		httpfs2: lookTool("httpfs2"),
		curl:    lookTool("curl"),
		tar:     lookTool("tar"),
		find:    lookTool("find"),
	}
}

// makeTemp makes the temporary directory on a disk-backed file system
// ($TMPDIR, else /var/tmp rather than a /tmp that may be tmpfs), since the
// local baselines read from it. The cleanup removes it unless -keep, and
// never while something is still mounted inside.
func (b *bench) makeTemp(context.Context) error {
	base := os.Getenv("TMPDIR")
	if base == "" {
		base = "/var/tmp"
	}
	tmp, err := os.MkdirTemp(base, "piecefs-bench-")
	if err != nil {
		return err
	}
	b.tmp, b.rcloneConf = tmp, filepath.Join(tmp, "rclone.conf")
	b.clean.add(func() { b.removeTemp() })
	if fs := fsType(tmp); fs == "tmpfs" || fs == "ramfs" {
		b.note("the local baselines read from %s, which is %s: local \"cold\" reads come from memory", tmp, fs)
	}
	return os.WriteFile(b.rcloneConf, nil, 0o600)
}

func (b *bench) removeTemp() {
	if b.cfg.keep {
		fmt.Fprintf(b.logw, "bench: kept %s\n", b.tmp)
		return
	}
	left, err := harness.MountsUnder(b.tmp)
	if err == nil && len(left) > 0 {
		err = fmt.Errorf("still mounted: %s", strings.Join(left, ", "))
	}
	if err != nil {
		fmt.Fprintf(b.logw, "bench: not removing %s: %v\n", b.tmp, err)
		return
	}
	if err := os.RemoveAll(b.tmp); err != nil {
		fmt.Fprintf(b.logw, "bench: remove %s: %v\n", b.tmp, err)
	}
}

// releaseFlags are the flags README.md builds piecefs with: no symbol
// table and no DWARF, which a process start from a cold page cache would
// read with the rest of the binary (the kernel's readahead reads all of
// it), about 7 of its 23 MB. The profiles the benchmark takes come from
// the runtime, which needs neither.
var releaseFlags = []string{"-trimpath", "-ldflags=-s -w"}

// build builds cmd/piecefs from the module this benchmark belongs to, as
// README.md does.
func (b *bench) build(ctx context.Context) error {
	gomod, err := output(ctx, "go", "env", "GOMOD")
	if err != nil || gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("find the module root (go env GOMOD = %q): %v", gomod, err)
	}
	b.root, b.bin = filepath.Dir(gomod), filepath.Join(b.tmp, "piecefs")
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, releaseFlags...), "-o", b.bin, "./cmd/piecefs")...)
	cmd.Dir = b.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/piecefs: %w\n%s", err, out)
	}
	return nil
}

func (b *bench) generate(ctx context.Context) (err error) {
	b.data, err = generate(ctx, filepath.Join(b.tmp, "src"), b.cfg.bigSize, b.cfg.files)
	if err == nil {
		b.logf("  %s big file, %d small files (%s) in %d directories", humanSize(b.data.bigSize),
			b.data.treeFiles, humanSize(b.data.treeBytes), b.data.treeDirs)
	}
	return err
}

// publish publishes the data, adds the procedural manifest, and lists the
// big file's pieces.
func (b *bench) publish(ctx context.Context) error {
	out := filepath.Join(b.tmp, "out")
	m, err := publish(ctx, b.bin, b.data.src, out)
	if err != nil {
		return err
	}
	if b.cfg.ttfbGiB > 0 {
		if err := writeHuge(out, b.cfg.ttfbGiB); err != nil {
			return err
		}
	}
	urls, n, err := pieceURLs(m, "", bigName)
	if err != nil {
		return err
	}
	if n != b.data.bigSize {
		return fmt.Errorf("manifest: %s has %d bytes, want %d", bigName, n, b.data.bigSize)
	}
	b.urls = urls // made absolute once the origin runs
	b.pieces = bigPieces{urls: b.urls, size: m.PieceSize, file: n}
	if err := b.pieces.check(); err != nil {
		return err
	}
	b.logf("  %d pieces of %s", len(m.Pieces), formatSize(m.PieceSize))
	return nil
}

func (b *bench) startOrigin(ctx context.Context) (err error) {
	out, src := filepath.Join(b.tmp, "out"), b.data.src
	if b.tools.nginx != "" {
		b.origin, err = b.startNginx(ctx, out, src)
	} else {
		b.note("nginx is not installed: the origin is `piecefs serve`")
		b.origin, err = b.startServe(ctx, out, src)
	}
	if err != nil {
		return err
	}
	for i, u := range b.urls {
		b.urls[i] = b.origin.url + u
	}
	return b.writeCurlConf()
}

// startChild starts a long-running child and makes the cleanup stop it.
func (b *bench) startChild(name string, args ...string) (*harness.Process, error) {
	p, err := harness.Start(harness.Command{Path: name, Args: args})
	if err != nil {
		return nil, err
	}
	b.clean.add(func() { _ = p.Stop(context.Background(), stopTimeout) })
	return p, nil
}

// track makes the cleanup stop m (and unmount what it leaves).
func (b *bench) track(m *mount) *mount {
	b.clean.add(func() {
		if err := m.stop(); err != nil {
			fmt.Fprintf(b.logw, "bench: cleanup: %v\n", err)
		}
	})
	return m
}

// timed runs fn as a named phase, logging and recording its duration.
func (b *bench) timed(ctx context.Context, name string, fn func(context.Context) error) error {
	b.logf("%s…", name)
	start := time.Now()
	err := fn(ctx)
	b.phases = append(b.phases, phase{name, time.Since(start).Seconds()})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.logw, "bench: "+format+"\n", args...)
}

func (b *bench) vlogf(format string, args ...any) {
	if b.cfg.verbose {
		b.logf(format, args...)
	}
}

// note adds a line to the report's notes.
func (b *bench) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}
