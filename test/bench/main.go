package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// config is what the flags say.
type config struct {
	short       bool
	runs        int
	jsonPath    string
	bigSize     int64
	files       int
	keep        bool
	verbose     bool
	ttfbGiB     int
	fioRuntime  time.Duration
	memoryCache int64
	// requireTools turns a missing nginx, fio, rclone or httpfs2, and a
	// failed peer, into a failure of the run instead of a note (CI).
	requireTools bool
	// containers runs the container start-up mode instead of the default
	// run (containers*.go); rootfsDir caches its root file system.
	containers bool
	rootfsDir  string
}

// Defaults by mode; a flag left at its zero value takes these.
var (
	fullDefaults  = config{runs: 3, bigSize: 2 << 30, files: 20000, fioRuntime: 5 * time.Second}
	shortDefaults = config{runs: 1, bigSize: 64 << 20, files: 500, fioRuntime: time.Second}
	// ctrRuns is -containers' default number of runs: a start takes seconds.
	ctrRuns = 5
)

func main() {
	if code, ok := childMain(os.Args[1:]); ok {
		os.Exit(code)
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := runMode(context.Background(), cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if errors.Is(err, errInterrupted) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	big, memCache := sizeFlag(0), sizeFlag(256<<20)
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.short, "short", false, "tiny mode: "+describe(shortDefaults))
	fs.IntVar(&c.runs, "runs", 0, "runs of each measurement; the table shows the median (default 3, -short 1)")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results to this file as JSON")
	fs.Var(&big, "big", "size of the big file, e.g. 2GiB (default 2GiB, -short 64MiB)")
	fs.IntVar(&c.files, "files", 0, "number of small files (default 20000, -short 500)")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (data, publish output, caches, logs)")
	fs.BoolVar(&c.verbose, "v", false, "log every run")
	fs.IntVar(&c.ttfbGiB, "ttfb-gib", 20, "also measure time to first byte of a procedural file of this many GiB; 0 skips it")
	fs.DurationVar(&c.fioRuntime, "fio-runtime", 0, "duration of each random-read run (default 5s, -short 1s)")
	fs.Var(&memCache, "memory-cache", "--memory-cache of every piecefs mount")
	fs.BoolVar(&c.containers, "containers", false, "measure container start-up instead (issue 10): a debootstrap rootfs imported as an image, started with runc on the local disk and on piecefs cold, cold with a prefetch list, and warm (default 5 runs)")
	fs.StringVar(&c.rootfsDir, "rootfs-dir", "/var/tmp/piecefs-bench-rootfs", "-containers: where the debootstrap rootfs and its OCI image are cached between runs")
	fs.BoolVar(&c.requireTools, "require-tools", false, "fail, instead of noting a fallback, when nginx, fio, rclone or httpfs2 is missing or rclone or httpfs2 fails (go test sets it with CI=true)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.bigSize, c.memoryCache = int64(big), int64(memCache)
	return c.withDefaults()
}

// withDefaults fills what the flags left zero from the mode's defaults and
// checks the rest.
func (c config) withDefaults() (config, error) {
	d := fullDefaults
	if c.short {
		d = shortDefaults
	} else if c.containers {
		d.runs = ctrRuns
	}
	c.runs = cmp0(c.runs, d.runs)
	c.bigSize = cmp0(c.bigSize, d.bigSize)
	c.files = cmp0(c.files, d.files)
	c.fioRuntime = cmp0(c.fioRuntime, d.fioRuntime)
	switch {
	case c.runs < 1 || c.files < 1 || c.bigSize < 1 || c.ttfbGiB < 0 || c.memoryCache < 0:
		return c, errors.New("-runs, -files and -big must be positive; -ttfb-gib and -memory-cache not negative")
	case c.fioRuntime < 100*time.Millisecond:
		return c, errors.New("-fio-runtime must be at least 100ms")
	}
	return c, nil
}

// cmp0 returns v, or def when v is zero.
func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func describe(c config) string {
	return fmt.Sprintf("%s big file, %d small files, %d run(s), %v of random reads", formatSize(c.bigSize), c.files, c.runs, c.fioRuntime)
}
