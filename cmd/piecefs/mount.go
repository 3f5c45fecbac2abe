package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/piecefs/piecefs/cache"
	"github.com/piecefs/piecefs/fetch"
	pfs "github.com/piecefs/piecefs/fs"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/piece"
	"github.com/piecefs/piecefs/store"
)

// mountConfig is what the mount command's flags and arguments say.
type mountConfig struct {
	origin, mountpoint string
	cacheDir           string
	memoryCache        int64
	diskCache          int64
	tag                string
	digest             *meta.Digest // pins the manifest when set
	fetchTimeout       time.Duration
	stallTimeout       time.Duration
	attempts           int
	openFiles          int
	allowOther         bool
	debugFUSE          bool
	debugAddr          string
	metricsAddr        string
	record             string // --record: where to write the read record at unmount
	prefetchRate       int64  // bytes a second of the published prefetch list's replay; 0 turns it off
	origins            originFlags
	bundle             mountBundle // --bundle: the container bundle written before the ready line
}

func setupMount(fs *flag.FlagSet) func([]string) error {
	var c mountConfig
	memoryCache := sizeFlag(256 << 20)
	diskCache := sizeFlag(0)
	fs.StringVar(&c.cacheDir, "cache", defaultCacheDir(), "cache directory (pieces, manifests and the piecefs.db database)")
	fs.Var(&memoryCache, "memory-cache", "memory tier size (pieces and blocks read or read ahead; readahead uses up to a quarter of it, at most 64MiB); 0 turns the memory tier off, and readahead then fetches 16MiB ahead into the disk tier only")
	fs.Var(&diskCache, "disk-cache", "bound on the pieces and blocks kept in the cache directory, evicted least-recently-used; 0 is unbounded")
	fs.StringVar(&c.tag, "tag", "latest", "tag to mount (resolved at the origin, or from the cache when the origin is down)")
	digest := fs.String("digest", "", "mount the manifest with this digest (sha256:HEX) instead of a tag; other bytes are refused")
	fs.DurationVar(&c.fetchTimeout, "fetch-timeout", 30*time.Second, "how long a read of an uncached piece may wait, retries included, before it fails with EIO")
	fs.DurationVar(&c.stallTimeout, "stall-timeout", 0, "give up an attempt that receives nothing for this long and retry on a new connection (default fetch-timeout/attempts)")
	fs.IntVar(&c.attempts, "attempts", 4, "tries per fetch (a piece, or a range of its blocks) before a read fails")
	fs.IntVar(&c.openFiles, "open-files", store.DefaultOpenFiles, "bound on the cached piece files kept open between reads (each holds a file descriptor)")
	fs.BoolVar(&c.allowOther, "allow-other", false, "let users other than the mounting one read the mount")
	fs.BoolVar(&c.debugFUSE, "debug-fuse", false, "log every FUSE request")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve Go profiling endpoints (/debug/pprof/) on this address, e.g. 127.0.0.1:6060")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus metrics (/metrics) on this address, e.g. 127.0.0.1:9101")
	fs.StringVar(&c.record, "record", "", "at unmount, write to this file the ranges of files read, in the order first read (a start-up prefetch list for publish --prefetch)")
	prefetchRate := sizeFlag(defaultPrefetchRate)
	fs.Var(&prefetchRate, "prefetch-rate", "bytes a second at which a published start-up prefetch list is fetched in the background; 0 turns it off")
	c.origins.register(fs)
	c.bundle.register(fs)
	newLog := logFlags(fs)
	return func(args []string) error {
		args, err := c.bundle.parseArgs(fs, args)
		if err != nil {
			return err
		}
		if err := wantArgs(args, "ORIGIN_URL", "MOUNTPOINT"); err != nil {
			return err
		}
		c.origin, c.mountpoint = args[0], args[1]
		c.memoryCache, c.diskCache, c.prefetchRate = int64(memoryCache), int64(diskCache), int64(prefetchRate)
		if err := checkRecordPath(c.record); err != nil {
			return err
		}
		if err := c.parseDigest(fs, *digest); err != nil {
			return err
		}
		if c.fetchTimeout <= 0 || c.attempts <= 0 || c.stallTimeout < 0 || c.openFiles <= 0 {
			return usageError{"--fetch-timeout, --attempts and --open-files must be positive, --stall-timeout not negative"}
		}
		log, err := newLog()
		if err != nil {
			return err
		}
		return mount(c, log)
	}
}

func (c *mountConfig) parseDigest(fs *flag.FlagSet, s string) error {
	if s == "" {
		return nil
	}
	tagSet := false
	fs.Visit(func(f *flag.Flag) { tagSet = tagSet || f.Name == "tag" })
	if tagSet {
		return usageError{"--tag and --digest exclude each other"}
	}
	d, err := meta.ParseDigest(s)
	if err != nil {
		return usageError{err.Error()}
	}
	c.digest = &d
	return nil
}

// defaultCacheDir follows the XDG base directory rules ($XDG_CACHE_HOME,
// else ~/.cache).
func defaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ".piecefs-cache"
	}
	return filepath.Join(dir, "piecefs")
}

// mount wires the tiers, mounts, and serves until the mount ends.
func mount(c mountConfig, log *logrus.Logger) error {
	// ENOTCONN is a dead mount left by a killed piecefs; fs.Mount clears it.
	if fi, err := os.Stat(c.mountpoint); err != nil && !errors.Is(err, syscall.ENOTCONN) {
		return fmt.Errorf("mountpoint: %w", err)
	} else if err == nil && !fi.IsDir() {
		return fmt.Errorf("mountpoint %s is not a directory", c.mountpoint)
	}
	if c.debugAddr != "" {
		stop, err := startDebugServer(c.debugAddr, log)
		if err != nil {
			return fmt.Errorf("--debug-addr: %w", err)
		}
		defer stop()
	}
	metrics, err := listenMetrics(c.metricsAddr, log.WithField("component", "metrics"))
	if err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	defer metrics.Close()
	st, err := store.Open(c.cacheDir, store.Options{Log: log.WithField("component", "store"), MaxBytes: c.diskCache, OpenFiles: c.openFiles})
	if err != nil {
		return err
	}
	defer closeLogged(log, "cache", st.Close)
	url, opts, err := c.origins.fetchOptions(context.Background(), c.origin, fetch.Options{
		Sink: fetch.Adapt(st), Timeout: c.fetchTimeout, Attempts: c.attempts, StallTimeout: c.stallTimeout,
		Log: log.WithField("component", "fetch"), Observe: metrics.observer(),
	}, log)
	if err != nil {
		return err
	}
	f, err := fetch.New(url, opts)
	if err != nil {
		return usageError{err.Error()}
	}
	defer closeLogged(log, "fetcher", f.Close)
	d, m, keep, err := startupManifest(c, f, st, log)
	if err != nil {
		return err
	}
	kept := make(chan struct{}) // closed once the cache has the manifest
	go func() { keep(); close(kept) }()
	defer func() { <-kept }() // before the cache closes
	limit := newMemoryLimit(c.memoryCache, m.PieceSize, len(m.Entries), log)
	limitSet, stopLimit, limitDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { limit.run(limitSet, stopLimit); close(limitDone) }()
	defer func() { close(stopLimit); <-limitDone }()
	var mem piece.Memory     // nil: --memory-cache 0 turns the tier off
	var memStats memoryStats // the same, for status
	// The same, for metrics: nil reports no memory tier.
	var mc *cache.Cache[piece.Key]
	if c.memoryCache > 0 {
		mc = cache.New[piece.Key](c.memoryCache)
		mem, memStats = mc, mc
	}
	var rec *piece.Recorder // nil: not recording
	if c.record != "" {
		rec = piece.NewRecorder(log.WithField("component", "record"))
	}
	r := piece.New(m, piece.Options{
		Memory: mem, Disk: st, Network: f, Readahead: readahead(c.memoryCache), Record: rec,
		Log: log.WithField("component", "read"),
	})
	defer r.Close()
	// The prefetch starts as soon as there is a reader to fetch through,
	// before the mount, the control socket and the bundle: a container
	// started at the ready line then finds its first bytes on their way
	// already. It fetches into the tiers only, so a mount that fails
	// below has merely fetched some bytes ahead, and it stops before the
	// reader closes (defers run last in, first out).
	stopPrefetch := startPrefetch(m, f, r, c.prefetchRate, c.memoryCache/2, log.WithField("component", "prefetch"))
	defer stopPrefetch()
	sock, err := controlSocketPath(c.cacheDir)
	if err != nil {
		return err
	}
	ctl := newMountControl(c, d, m, st, r, memStats, f, log)
	// Caught from here on, queued until serveUntilUnmounted acts on them:
	// between the manifest's loading and the ready line they would kill.
	sigs, stopSignals := notifySignals()
	defer stopSignals()
	srv, err := pfs.Mount(c.mountpoint, m, r, pfs.Options{
		Log: log.WithField("component", "fuse"), AllowOther: c.allowOther, Debug: c.debugFUSE,
		Inodes: limit.counter(),
		Info:   entryInfo{m: m, disk: st}, Digest: d.String(), Control: sock,
	})
	if err != nil {
		return err
	}
	if _, err := startControl(sock, ctl); err != nil {
		unmount(srv, c.mountpoint, log)
		return err
	}
	defer closeLogged(log, "control socket", ctl.Close)
	spareProcs(log)
	stopMetrics := metrics.serve(metricSources{Fetch: f, Reads: r, Memory: mc, Disk: st, Manifest: d.String(), Origin: c.origin})
	defer stopMetrics()
	stopRelay := make(chan struct{}) // ends --bundle's signal relay, if any
	defer close(stopRelay)
	if sigs, err = c.bundle.write(m.Image, c.mountpoint, sigs, stopRelay, log); err != nil {
		unmount(srv, c.mountpoint, log)
		return err
	}
	<-limitSet
	<-kept
	fmt.Printf("mounted %s at %s\n", d, c.mountpoint)
	log.WithFields(logrus.Fields{"manifest": d, "origin": c.origin, "entries": len(m.Entries)}).Info("mounted")
	err = serveUntilUnmounted(srv, c.mountpoint, sigs, f, r, log)
	if rec != nil {
		if werr := writeRecord(c.record, rec, log); werr != nil {
			log.WithError(werr).Error("could not write the read record")
		}
	}
	if err != nil {
		return err
	}
	log.Info("unmounted")
	return nil
}

// startupManifest is findManifest with SIGINT and SIGTERM ending it, so
// that a mount waiting on a slow or silent origin at start can be stopped
// like publish and verify; once mounted, serveUntilUnmounted takes the
// signals over.
func startupManifest(c mountConfig, f *fetch.Fetcher, st *store.Store, log logrus.FieldLogger) (meta.Digest, *meta.Manifest, func(), error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return findManifest(ctx, c, f, st, log)
}

func closeLogged(log logrus.FieldLogger, what string, close func() error) {
	if err := close(); err != nil {
		log.WithError(err).Errorf("close %s", what)
	}
}

// maxReadahead is the farthest ahead of a sequential reader that pieces are
// fetched: enough to keep a fast link busy while the reader consumes them.
const maxReadahead = 64 << 20

// readahead sizes the window so that prefetched pieces take at most a
// quarter of the memory tier, and cannot push out what readers use now.
// Without a memory tier prefetched pieces go to disk only, and a modest
// window keeps the disk writes ahead of the reader.
func readahead(memoryCache int64) int64 {
	if memoryCache <= 0 {
		return 16 << 20
	}
	return min(memoryCache/4, maxReadahead)
}

// spareProcs adds to GOMAXPROCS as many Ps as go-fuse runs readers of
// /dev/fuse (GOMAXPROCS clamped to 2–16 when the server is made). A reader
// waits in a blocking read(2) while holding its P, and a goroutine made
// runnable meanwhile (the dial of a fetch, its response) waits until
// sysmon takes the P back, which after an idle spell sleeps up to 10 ms:
// on 2 cores that was a first byte after mount of 14–25 ms in one run of
// three instead of 3–6 ms. With spare Ps the runtime wakes an idle one
// at once. The Ps are not more threads running at once than there is work.
func spareProcs(log logrus.FieldLogger) {
	n := runtime.GOMAXPROCS(0)
	readers := min(max(n, 2), 16)
	runtime.GOMAXPROCS(n + readers)
	log.WithFields(logrus.Fields{"gomaxprocs": n + readers, "fuse_readers": readers}).Debug("spare Ps for FUSE readers")
}
