package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/store"
)

// errDamage makes verify exit non-zero after it has reported damage.
var errDamage = errors.New("damage found")

func setupVerify(fs *flag.FlagSet) func([]string) error {
	cacheDir := fs.String("cache", defaultCacheDir(), "cache directory to check")
	fetchTimeout := fs.Duration("fetch-timeout", 30*time.Second, "with ORIGIN_URL: how long one refetch may take, retries included")
	var origins originFlags
	origins.register(fs)
	newLog := logFlags(fs)
	return func(args []string) error {
		if len(args) > 1 {
			return usageError{fmt.Sprintf("want at most 1 argument (ORIGIN_URL), got %d", len(args))}
		}
		log, err := newLog()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		st, err := store.Open(*cacheDir, store.Options{Log: log.WithField("component", "store")})
		if err != nil {
			return err
		}
		defer closeLogged(log, "cache", st.Close)
		var f *fetch.Fetcher
		if len(args) == 1 {
			url, opts, err := origins.fetchOptions(ctx, args[0], fetch.Options{Sink: fetch.Adapt(st), Timeout: *fetchTimeout, Log: log}, log)
			if err != nil {
				return err
			}
			if f, err = fetch.New(url, opts); err != nil {
				return usageError{err.Error()}
			}
			defer closeLogged(log, "fetcher", f.Close)
		} else if origins.given() {
			return usageError{"--mirror, --s3-endpoint and --s3-region need ORIGIN_URL"}
		}
		return verify(ctx, st, f, os.Stdout)
	}
}

// verify checks every complete piece and cached manifest of st, reporting
// and dropping the bad ones, and refetches the pieces from f when f is not
// nil.
func verify(ctx context.Context, st *store.Store, f *fetch.Fetcher, out io.Writer) error {
	var bad []meta.Piece
	for _, de := range st.DroppedAtOpen() {
		fmt.Fprintf(out, "bad %s: %v\n", de.Digest, de.Err)
		bad = append(bad, meta.Piece{Digest: de.Digest, Size: de.Size})
	}
	checked, nbad, err := st.Verify(ctx, func(d meta.Digest, why error) {
		fmt.Fprintf(out, "bad %s: %v\n", d, why)
		var de *store.DroppedError
		if errors.As(why, &de) {
			bad = append(bad, meta.Piece{Digest: de.Digest, Size: de.Size})
		}
	})
	if err != nil {
		return err
	}
	checked, nbad = checked+len(st.DroppedAtOpen()), nbad+len(st.DroppedAtOpen())
	fmt.Fprintf(out, "checked %d pieces, %d bad\n", checked, nbad)
	_, mbad, err := st.VerifyManifests(ctx, func(d meta.Digest, why error) {
		fmt.Fprintf(out, "bad manifest %s: %v\n", d, why)
	})
	if err != nil {
		return err
	}
	if nbad+mbad == 0 {
		return nil
	}
	damage := fmt.Errorf("%w: %d bad pieces and %d bad manifests dropped", errDamage, nbad, mbad)
	if f == nil {
		return fmt.Errorf("%w; they are fetched again when next needed", damage)
	}
	refetched, failed := 0, error(nil)
	for _, p := range bad {
		if p.Size <= 0 { // a malformed record: its size is unknown
			continue
		}
		if _, err := f.Piece(ctx, p); err != nil {
			failed = errors.Join(failed, err)
			continue
		}
		refetched++
	}
	fmt.Fprintf(out, "refetched %d\n", refetched)
	return errors.Join(fmt.Errorf("%w; %d pieces refetched", damage, refetched), failed)
}
