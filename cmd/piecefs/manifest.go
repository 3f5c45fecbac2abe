package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/store"
)

// loadManifest finds the manifest to mount: the pinned digest, or the tag
// as the origin resolves it now, or — with the origin out of reach — as it
// resolved the last time. A manifest once fetched is kept in the cache, so
// a remount needs the origin for nothing but pieces it has not seen.
func loadManifest(ctx context.Context, c mountConfig, f *fetch.Fetcher, st *store.Store, log logrus.FieldLogger) (meta.Digest, *meta.Manifest, error) {
	d, m, keep, err := findManifest(ctx, c, f, st, log)
	if err == nil {
		keep()
	}
	return d, m, err
}

// findManifest is loadManifest with the keeping in the cache left to the
// caller: keep writes the manifest durably (when the cache does not hold
// it yet) and records the tag, logging a failure. A mount runs it beside
// its FUSE mount and bundle, which need the decoded manifest only, and
// waits for it before its ready line, so that a crash after that line
// still finds the manifest for an offline remount.
func findManifest(ctx context.Context, c mountConfig, f *fetch.Fetcher, st *store.Store, log logrus.FieldLogger) (d meta.Digest, m *meta.Manifest, keep func(), err error) {
	origin := strings.TrimRight(c.origin, "/")
	tag := ""
	if c.digest != nil {
		d = *c.digest
	} else {
		tag = c.tag
		if d, err = resolveTag(ctx, f, st, origin, tag, log); err != nil {
			return d, nil, nil, err
		}
	}
	data, err := st.LoadManifest(d)
	if err != nil {
		if data, err = f.Manifest(ctx, d); err != nil {
			return d, nil, nil, fmt.Errorf("get manifest: %w", err)
		}
	}
	if m, err = meta.Decode(data); err != nil {
		return d, nil, nil, fmt.Errorf("manifest %s: %w", d, err)
	}
	keep = func() {
		if err := st.SaveManifest(origin, tag, d, data); err != nil {
			// As with pieces, a cache that cannot keep the manifest (a
			// full disk) costs the offline remount, not this mount: the
			// manifest is verified and in memory.
			log.WithError(err).WithField("manifest", d).
				Warn("could not keep the manifest in the cache; mounting it anyway, but a remount will need the origin")
		}
	}
	return d, m, keep, nil
}

func resolveTag(ctx context.Context, f *fetch.Fetcher, st *store.Store, origin, tag string, log logrus.FieldLogger) (meta.Digest, error) {
	d, err := f.Tag(ctx, tag)
	if err == nil {
		return d, nil
	}
	cached, ok, cerr := st.ResolveTag(origin, tag)
	if cerr != nil {
		return d, errors.Join(err, cerr)
	}
	if !ok {
		return d, fmt.Errorf("resolve tag %q: %w (and the cache holds no manifest for it from this origin)", tag, err)
	}
	log.WithError(err).WithFields(logrus.Fields{"tag": tag, "manifest": cached}).
		Warn("origin unreachable; mounting the manifest this tag last resolved to")
	return cached, nil
}
