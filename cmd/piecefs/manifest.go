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
	origin := strings.TrimRight(c.origin, "/")
	d, tag := meta.Digest{}, ""
	if c.digest != nil {
		d = *c.digest
	} else {
		tag = c.tag
		var err error
		if d, err = resolveTag(ctx, f, st, origin, tag, log); err != nil {
			return d, nil, err
		}
	}
	data, err := st.LoadManifest(d)
	if err != nil {
		if data, err = f.Manifest(ctx, d); err != nil {
			return d, nil, fmt.Errorf("get manifest: %w", err)
		}
	}
	m, err := meta.Decode(data)
	if err != nil {
		return d, nil, fmt.Errorf("manifest %s: %w", d, err)
	}
	if err := st.SaveManifest(origin, tag, d, data); err != nil {
		// As with pieces, a cache that cannot keep the manifest (a full
		// disk) costs the offline remount, not this mount: the manifest
		// is verified and in memory.
		log.WithError(err).WithField("manifest", d).
			Warn("could not keep the manifest in the cache; mounting it anyway, but a remount will need the origin")
	}
	return d, m, nil
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
