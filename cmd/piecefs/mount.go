package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
	tag                string
	digest             *meta.Digest // pins the manifest when set
	fetchTimeout       time.Duration
	attempts           int
	allowOther         bool
	debugFUSE          bool
	debugAddr          string
}

func setupMount(fs *flag.FlagSet) func([]string) error {
	var c mountConfig
	memoryCache := sizeFlag(256 << 20)
	fs.StringVar(&c.cacheDir, "cache", defaultCacheDir(), "cache directory (pieces, manifests and the piecefs.db database)")
	fs.Var(&memoryCache, "memory-cache", "memory tier size; 0 turns the memory tier off")
	fs.StringVar(&c.tag, "tag", "latest", "tag to mount (resolved at the origin, or from the cache when the origin is down)")
	digest := fs.String("digest", "", "mount the manifest with this digest (sha256:HEX) instead of a tag; other bytes are refused")
	fs.DurationVar(&c.fetchTimeout, "fetch-timeout", 30*time.Second, "how long a read of an uncached piece may wait, retries included, before it fails with EIO")
	fs.IntVar(&c.attempts, "attempts", 4, "tries per piece fetch before a read fails")
	fs.BoolVar(&c.allowOther, "allow-other", false, "let users other than the mounting one read the mount")
	fs.BoolVar(&c.debugFUSE, "debug-fuse", false, "log every FUSE request")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve Go profiling endpoints (/debug/pprof/) on this address, e.g. 127.0.0.1:6060")
	newLog := logFlags(fs)
	return func(args []string) error {
		if err := wantArgs(args, "ORIGIN_URL", "MOUNTPOINT"); err != nil {
			return err
		}
		c.origin, c.mountpoint, c.memoryCache = args[0], args[1], int64(memoryCache)
		if err := c.parseDigest(fs, *digest); err != nil {
			return err
		}
		if c.fetchTimeout <= 0 || c.attempts <= 0 {
			return usageError{"--fetch-timeout and --attempts must be positive"}
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
	st, err := store.Open(c.cacheDir, store.Options{Log: log.WithField("component", "store")})
	if err != nil {
		return err
	}
	defer closeLogged(log, "cache", st.Close)
	f, err := fetch.New(c.origin, fetch.Options{
		Sink: st, Timeout: c.fetchTimeout, Attempts: c.attempts,
		Log: log.WithField("component", "fetch"),
	})
	if err != nil {
		return usageError{err.Error()}
	}
	defer closeLogged(log, "fetcher", f.Close)
	d, m, err := loadManifest(context.Background(), c, f, st, log)
	if err != nil {
		return err
	}
	r := piece.New(m, cache.New(c.memoryCache), st, f, log.WithField("component", "read"))
	srv, err := pfs.Mount(c.mountpoint, m, r, pfs.Options{
		Log: log.WithField("component", "fuse"), AllowOther: c.allowOther, Debug: c.debugFUSE,
	})
	if err != nil {
		return err
	}
	fmt.Printf("mounted %s at %s\n", d, c.mountpoint)
	log.WithFields(logrus.Fields{"manifest": d, "origin": c.origin, "entries": len(m.Entries)}).Info("mounted")
	if err := serveUntilUnmounted(srv, c.mountpoint, f, log); err != nil {
		return err
	}
	log.Info("unmounted")
	return nil
}

func closeLogged(log logrus.FieldLogger, what string, close func() error) {
	if err := close(); err != nil {
		log.WithError(err).Errorf("close %s", what)
	}
}
