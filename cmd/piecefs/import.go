package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/piecefs/piecefs/image"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/origin"
	pub "github.com/piecefs/piecefs/publish"
)

func setupImport(fs *flag.FlagSet) func([]string) error {
	bf := addBuildFlags(fs, "image")
	platform := fs.String("platform", "", "OS/ARCH[/VARIANT] of the image to take from a multi-platform index (default: this machine's)")
	maxEntries := fs.Int("max-entries", image.DefaultMaxEntries, "refuse an image whose layers hold more tar entries than this (tar bombs)")
	newLog := logFlags(fs)
	return func(args []string) error {
		if err := wantArgs(args, "IMAGE", "OUT_DIR"); err != nil {
			return err
		}
		po, ctx, stop, err := bf.start(newLog)
		if err != nil {
			return err
		}
		defer stop()
		d, err := importImage(ctx, args[0], args[1], *bf.tag, po, image.Options{Platform: *platform, MaxEntries: *maxEntries})
		if err != nil {
			return err
		}
		fmt.Println(d)
		return nil
	}
}

// importImage flattens the image spec into out and points tag at the new
// manifest, as publish does for a directory: pieces first, then the
// manifest, the tag last, so a failed import leaves no tag and no manifest
// behind, only whole pieces that the next run re-uses.
// po is the build's options but for Image, which comes from the image.
func importImage(ctx context.Context, spec, out, tag string, po pub.Options, opts image.Options) (meta.Digest, error) {
	if err := po.Validate(); err != nil {
		return meta.Digest{}, err
	}
	im, err := image.Open(spec, opts)
	if err != nil {
		return meta.Digest{}, err
	}
	defer im.Close()
	po.Image = im.Config()
	dir, err := origin.OpenDir(out)
	if err != nil {
		return meta.Digest{}, err
	}
	m, err := pub.BuildFrom(ctx, im, dir, po)
	if err != nil {
		return meta.Digest{}, fmt.Errorf("image %s: %w", spec, err)
	}
	return finishPublication(dir, m, out, tag, "imported "+spec+":", po.Warn)
}
