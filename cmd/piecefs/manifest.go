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
	var data []byte
	if c.digest != nil {
		d = *c.digest
	} else {
		tag = c.tag
		ahead := decodeCachedTag(st, origin, tag)
		d, err = resolveTag(ctx, f, st, origin, tag, log)
		r := <-ahead
		if err != nil {
			return d, nil, nil, err
		}
		if r.err == nil && r.d == d {
			data, m = r.data, r.m
		}
	}
	if data == nil {
		if data, err = st.LoadManifest(d); err != nil {
			if data, err = f.Manifest(ctx, d); err != nil {
				return d, nil, nil, fmt.Errorf("get manifest: %w", err)
			}
		}
	}
	if m == nil {
		if m, err = meta.Decode(data); err != nil {
			return d, nil, nil, fmt.Errorf("manifest %s: %w", d, err)
		}
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

// aheadLimit bounds the manifest decodeCachedTag decodes: when the tag has
// moved, the mount decodes the new manifest too, and both are in memory
// for a while; 16 MiB of manifest is about 100,000 entries, tens of MiB
// decoded. A larger one is read ahead but decoded only once it is known to
// be the one.
const aheadLimit = 16 << 20

// cachedManifest is the manifest the cache last resolved a tag to, read
// (verified against its digest) and decoded.
type cachedManifest struct {
	d    meta.Digest
	data []byte
	m    *meta.Manifest // nil if data is larger than aheadLimit
	err  error          // no tag in the cache, or reading or decoding failed
}

// errNoCachedTag is cachedManifest's error when the cache has no manifest
// for the tag.
var errNoCachedTag = errors.New("the cache resolves no manifest for this tag")

// decodeCachedTag reads and decodes, on a goroutine of its own, the
// manifest the cache last resolved tag of origin to, while the origin is
// asked where the tag points now: a remount of an unchanged tag then pays
// one round trip or the decode, whichever is longer, instead of both
// (with a cold page cache here, 1.2 ms for the round trip on loopback and
// ~13 ms to read and decode 7,446 entries; an origin across a network
// takes longer). Its work is on local files, bounded by the manifest's
// size, so the caller simply waits for it.
func decodeCachedTag(st *store.Store, origin, tag string) <-chan cachedManifest {
	out := make(chan cachedManifest, 1)
	go func() {
		r := cachedManifest{err: errNoCachedTag}
		d, ok, err := st.ResolveTag(origin, tag)
		switch {
		case err != nil:
			r.err = err
		case ok:
			r.d = d
			if r.data, r.err = st.LoadManifest(d); r.err == nil && len(r.data) <= aheadLimit {
				r.m, r.err = meta.Decode(r.data)
			}
		}
		out <- r
	}()
	return out
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
