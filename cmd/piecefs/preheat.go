package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sirupsen/logrus"
	"golang.org/x/term"

	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/piece"
	"github.com/piecefs/piecefs/store"
)

// offlineFlags are the flags of the forms of preheat and unpin that work
// on a cache directory with no mount running.
type offlineFlags struct {
	cache     *string
	tag       *string
	digest    *string
	diskCache sizeFlag
	timeout   *time.Duration
	origins   *originFlags // preheat's: --mirror, --s3-endpoint, --s3-region
}

func addOfflineFlags(fs *flag.FlagSet) *offlineFlags {
	o := &offlineFlags{}
	o.cache = fs.String("cache", "", "work on this cache directory, with no mount running, instead of through a mount: the arguments are then ORIGIN_URL [PATH...], PATHs relative to the tree's root")
	o.tag = fs.String("tag", "latest", "with --cache: the tag whose tree the PATHs name")
	o.digest = fs.String("digest", "", "with --cache: the manifest (sha256:HEX) whose tree the PATHs name, instead of a tag")
	fs.Var(&o.diskCache, "disk-cache", "with --cache: the bound the mounts of this cache use (--disk-cache of mount), which pins must fit; 0 is unbounded")
	o.timeout = fs.Duration("fetch-timeout", 30*time.Second, "with --cache: how long one piece may take, retries included")
	return o
}

func setupPreheat(fs *flag.FlagSet) func([]string) error {
	pin := fs.Bool("pin", false, "also pin what is preheated: kept out of disk-cache eviction until 'piecefs unpin', across restarts")
	jobs := fs.Int("jobs", piece.DefaultPreheatJobs, "pieces fetched at once")
	asJSON := fs.Bool("json", false, "print the summary as JSON instead of a line")
	off := addOfflineFlags(fs)
	off.origins = &originFlags{}
	off.origins.register(fs)
	newLog := logFlags(fs)
	return func(args []string) error {
		if *jobs <= 0 || *jobs > 256 {
			return usageError{"--jobs must be in 1–256"}
		}
		req := preheatRequest{Pin: *pin, Jobs: *jobs}
		ctx, stop := signalContext()
		defer stop()
		bar := newProgress(os.Stderr)
		var sum preheatSummary
		var err error
		if *off.cache != "" {
			if len(args) == 0 {
				return usageError{"preheat --cache DIR needs ORIGIN_URL [PATH...]"}
			}
			req.Paths = args[1:]
			if len(req.Paths) == 0 {
				req.Paths = []string{""}
			}
			log, lerr := newLog()
			if lerr != nil {
				return lerr
			}
			sum, err = withOffline(ctx, off, args[0], log, func(env preheatEnv) (preheatSummary, error) {
				return env.run(ctx, req, bar.set)
			})
		} else {
			if len(args) == 0 {
				return usageError{"preheat needs at least one PATH inside a piecefs mount (or --cache DIR ORIGIN_URL [PATH...])"}
			}
			if off.origins.given() {
				return usageError{"--mirror, --s3-endpoint and --s3-region go with --cache; through a mount, the mount's own origins are used"}
			}
			var mnt *mountClient
			mnt, req.Paths, err = findMountOf(args)
			if err == nil {
				sum, err = mnt.preheat(ctx, req, bar.set)
			}
		}
		bar.finish()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: what was fetched stays cached: %w", ctx.Err())
			}
			return err
		}
		return reportPreheat(os.Stdout, os.Stderr, sum, *asJSON)
	}
}

// reportPreheat prints the summary and the files that failed, and returns
// errPreheatFailed if any did.
func reportPreheat(stdout, stderr io.Writer, sum preheatSummary, asJSON bool) error {
	if asJSON {
		if err := writeIndentedJSON(stdout, sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, sum.summaryLine())
	}
	for _, f := range sum.FailedFiles {
		fmt.Fprintf(stderr, "piecefs preheat: %s: %s\n", f.Path, f.Error)
	}
	if len(sum.FailedFiles) > 0 {
		return fmt.Errorf("%w: %d files (listed above)", errPreheatFailed, len(sum.FailedFiles))
	}
	return nil
}

func setupUnpin(fs *flag.FlagSet) func([]string) error {
	off := addOfflineFlags(fs)
	newLog := logFlags(fs)
	return func(args []string) error {
		ctx, stop := signalContext()
		defer stop()
		var n int
		var err error
		var paths []string
		if *off.cache != "" {
			if len(args) < 2 {
				return usageError{"unpin --cache DIR needs ORIGIN_URL PATH... (/ for the whole tree)"}
			}
			paths = args[1:]
			log, lerr := newLog()
			if lerr != nil {
				return lerr
			}
			err = withOfflineStore(off, log, func(st *store.Store) error {
				env := preheatEnv{origin: strings.TrimRight(args[0], "/"), store: st}
				n, err = env.unpin(paths)
				return err
			})
		} else {
			if len(args) == 0 {
				return usageError{"unpin needs at least one PATH inside a piecefs mount (or --cache DIR ORIGIN_URL PATH...)"}
			}
			var mnt *mountClient
			var rel []string
			mnt, rel, err = findMountOf(args)
			paths = args
			if err == nil {
				var rep unpinReply
				err = mnt.call(ctx, pathUnpin, unpinRequest{Paths: rel}, &rep)
				n = rep.Removed
			}
		}
		if err != nil {
			return err
		}
		if n == 0 {
			fmt.Fprintf(os.Stderr, "piecefs unpin: nothing was pinned at or below %s\n", strings.Join(paths, ", "))
			return nil
		}
		fmt.Printf("unpinned %d pins at or below %s\n", n, strings.Join(paths, ", "))
		return nil
	}
}

// withOfflineStore opens the cache directory of the --cache form, failing
// clearly when a mount holds it.
func withOfflineStore(off *offlineFlags, log logrus.FieldLogger, fn func(*store.Store) error) error {
	st, err := store.Open(*off.cache, store.Options{Log: log.WithField("component", "store"), MaxBytes: int64(off.diskCache)})
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("cache directory %s is in use by a running piecefs (a mount): run the command on a path inside that mount instead: %w", *off.cache, err)
	}
	if err != nil {
		return err
	}
	defer closeLogged(log, "cache", st.Close)
	return fn(st)
}

// withOffline runs fn on a preheatEnv of its own: the cache directory,
// the origin, and the manifest the tag or digest names. Before it returns,
// every fetched piece is on disk.
func withOffline(ctx context.Context, off *offlineFlags, origin string, log logrus.FieldLogger, fn func(preheatEnv) (preheatSummary, error)) (sum preheatSummary, err error) {
	c := mountConfig{origin: origin, cacheDir: *off.cache, tag: *off.tag, fetchTimeout: *off.timeout, attempts: 4}
	if *off.digest != "" {
		if *off.tag != "latest" {
			return sum, usageError{"--tag and --digest exclude each other"}
		}
		d, err := meta.ParseDigest(*off.digest)
		if err != nil {
			return sum, usageError{err.Error()}
		}
		c.digest = &d
	}
	err = withOfflineStore(off, log, func(st *store.Store) error {
		url, opts, err := off.origins.fetchOptions(ctx, origin, fetch.Options{Sink: fetch.Adapt(st), Timeout: c.fetchTimeout, Log: log.WithField("component", "fetch")}, log)
		if err != nil {
			return err
		}
		f, err := fetch.New(url, opts)
		if err != nil {
			return usageError{err.Error()}
		}
		// Close waits for the pieces being written: none is lost.
		defer closeLogged(log, "fetcher", f.Close)
		_, m, err := loadManifest(ctx, c, f, st, log)
		if err != nil {
			return err
		}
		r := piece.New(m, piece.Options{Disk: st, Network: f, Log: log.WithField("component", "read")})
		defer r.Close()
		sum, err = fn(preheatEnv{m: m, origin: strings.TrimRight(origin, "/"), store: st, reader: r})
		return err
	})
	return sum, err
}

// progress draws a preheat's progress bar on a terminal: bytes settled of
// the total, rate and time left. Elsewhere it draws nothing; the summary
// line says what happened.
type progress struct {
	w   io.Writer
	bar *progressbar.ProgressBar // nil until the total is known, or off
	on  bool
}

func newProgress(f *os.File) *progress {
	return &progress{w: f, on: term.IsTerminal(int(f.Fd()))}
}

func (p *progress) set(pr preheatProgress) {
	if !p.on {
		return
	}
	if p.bar == nil {
		// Full width on a terminal that says how wide it is; a pty with
		// no size (script(1), tmux before attaching) gets a fixed bar.
		width := progressbar.OptionSetWidth(40)
		if f, ok := p.w.(*os.File); ok {
			if w, _, err := term.GetSize(int(f.Fd())); err == nil && w >= 80 {
				width = progressbar.OptionFullWidth()
			}
		}
		p.bar = progressbar.NewOptions64(pr.Total,
			width,
			progressbar.OptionShowCount(),
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription("preheat"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	_ = p.bar.Set64(pr.Settled())
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}
