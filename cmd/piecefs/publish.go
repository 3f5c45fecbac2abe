package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/origin"
	// Renamed because this package's publish func is the command itself.
	pub "github.com/piecefs/piecefs/publish"
)

// buildFlags are the flags publish and import share: how the tree is
// packed, the tag, and the start-up prefetch list.
type buildFlags struct {
	pieceSize sizeFlag
	tag       *string
	prefetch  *string
}

// addBuildFlags declares them; what names the tree in the prefetch flag's
// help ("tree", "image").
func addBuildFlags(fs *flag.FlagSet, what string) *buildFlags {
	b := &buildFlags{pieceSize: sizeFlag(meta.DefaultPieceSize)}
	fs.Var(&b.pieceSize, "piece-size", "piece size (files at least this large get pieces of their own; smaller ones are packed)")
	b.tag = fs.String("tag", "latest", "tag to point at the new manifest")
	b.prefetch = fs.String("prefetch", "", "publish this start-up prefetch list (written by mount --record) with the manifest; ranges of paths the "+what+" lacks are left out with a warning")
	return b
}

// start checks the tag and makes the logger and the build's options, the
// prefetch list read; then the caller builds under the context, which ends
// at SIGINT or SIGTERM, and calls stop.
func (b *buildFlags) start(newLog func() (*logrus.Logger, error)) (opts pub.Options, ctx context.Context, stop context.CancelFunc, err error) {
	if err := meta.ValidTag(*b.tag); err != nil {
		return opts, nil, nil, usageError{err.Error()}
	}
	log, err := newLog()
	if err != nil {
		return opts, nil, nil, err
	}
	opts = pub.Options{PieceSize: int64(b.pieceSize), Warn: func(p, why string) { log.WithField("path", p).Warn(why) }}
	if *b.prefetch != "" {
		if opts.Prefetch, err = readPrefetchFile(*b.prefetch); err != nil {
			return opts, nil, nil, err
		}
	}
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return opts, ctx, stop, nil
}

func setupPublish(fs *flag.FlagSet) func([]string) error {
	bf := addBuildFlags(fs, "tree")
	newLog := logFlags(fs)
	return func(args []string) error {
		if err := wantArgs(args, "SRC_DIR", "OUT_DIR"); err != nil {
			return err
		}
		opts, ctx, stop, err := bf.start(newLog)
		if err != nil {
			return err
		}
		defer stop()
		d, err := publishWith(ctx, args[0], args[1], *bf.tag, opts)
		if err != nil {
			return err
		}
		fmt.Println(d)
		return nil
	}
}

// publish writes src into out and points tag at the new manifest. The
// options, and that out lies outside src, are checked before anything is
// written.
func publish(ctx context.Context, src, out string, pieceSize int64, tag string, warn func(p, why string)) (meta.Digest, error) {
	return publishWith(ctx, src, out, tag, pub.Options{PieceSize: pieceSize, Warn: warn})
}

// publishWith is publish with every option of the build.
func publishWith(ctx context.Context, src, out, tag string, opts pub.Options) (meta.Digest, error) {
	warn := opts.Warn
	if err := opts.Validate(); err != nil {
		return meta.Digest{}, err
	}
	if err := pub.CheckOutside(src, out); err != nil {
		return meta.Digest{}, err
	}
	dir, err := origin.OpenDir(out)
	if err != nil {
		return meta.Digest{}, err
	}
	m, err := pub.Build(ctx, src, dir, opts)
	if err != nil {
		return meta.Digest{}, err
	}
	return finishPublication(dir, m, out, tag, "published", warn)
}

// finishPublication writes the manifest m that a build left in dir (at
// out), then points tag at it: the tag last, so that a failure leaves no
// tag. It reports what was written on stderr, verb first ("published"),
// and warns of what was repaired.
func finishPublication(dir *origin.Dir, m *meta.Manifest, out, tag, verb string, warn func(p, why string)) (meta.Digest, error) {
	data, err := m.Encode()
	if err != nil {
		return meta.Digest{}, err
	}
	d, err := dir.PutManifest(data)
	if err != nil {
		return meta.Digest{}, err
	}
	if err := dir.SetTag(tag, d); err != nil {
		return meta.Digest{}, err
	}
	st := dir.Stats()
	if st.Repaired > 0 && warn != nil {
		warn(out, fmt.Sprintf("%d damaged pieces or manifests found and rewritten", st.Repaired))
	}
	fmt.Fprintf(os.Stderr, "%s %d entries in %d pieces to %s (%d pieces written, %s; %d already there, %d repaired); tag %s\n",
		verb, len(m.Entries), len(m.Pieces), out, st.Written, formatBytes(st.WrittenBytes), st.Skipped, st.Repaired, tag)
	if m.Prefetch != nil {
		// Stored as a piece is, and counted with them above.
		fmt.Fprintf(os.Stderr, "with the prefetch list %s (%s)\n", m.Prefetch.Digest, formatBytes(m.Prefetch.Size))
	}
	return d, nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n == 1:
		return "1 byte"
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
