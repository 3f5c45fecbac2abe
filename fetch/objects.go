package fetch

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/piecefs/piecefs/meta"
)

// maxTagSize bounds a tag file: "sha256:" and 64 hex digits, with room for
// whitespace around them.
const maxTagSize = 1 << 10

// Tag returns the manifest digest that tag name points to, read from
// base/tags/<name> ("sha256:<hex>" and optional surrounding whitespace).
func (f *Fetcher) Tag(ctx context.Context, name string) (meta.Digest, error) {
	if err := meta.ValidTag(name); err != nil {
		return meta.Digest{}, fmt.Errorf("fetch tag: %w", err)
	}
	d, err := run(ctx, f, kindTag, "tag "+name, func(ctx context.Context, src *source) (meta.Digest, error) {
		return f.getTag(ctx, src, name)
	})
	if err != nil {
		return d, fmt.Errorf("fetch tag %s: %w", name, err)
	}
	return d, nil
}

func (f *Fetcher) getTag(ctx context.Context, src *source, name string) (meta.Digest, error) {
	resp, err := f.getFresh(ctx, src, meta.TagPath(name))
	if err != nil {
		return meta.Digest{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTagSize+1))
	if err != nil {
		return meta.Digest{}, err
	}
	if len(b) > maxTagSize {
		return meta.Digest{}, fmt.Errorf("%w: more than %d bytes", ErrLongBody, maxTagSize)
	}
	d, err := meta.ParseDigest(strings.TrimSpace(string(b)))
	if err != nil {
		return d, &permanentError{err}
	}
	return d, nil
}

// Manifest returns the encoded manifest with digest d, read from
// base/manifests/<hex>.json, verified against d and at most
// meta.MaxManifestSize bytes long. It does not decode it.
func (f *Fetcher) Manifest(ctx context.Context, d meta.Digest) ([]byte, error) {
	b, err := run(ctx, f, kindManifest, "manifest "+d.String(), func(ctx context.Context, src *source) ([]byte, error) {
		return f.getManifest(ctx, src, d)
	})
	if err != nil {
		return nil, fmt.Errorf("fetch manifest %s: %w", d, err)
	}
	return b, nil
}

func (f *Fetcher) getManifest(ctx context.Context, src *source, d meta.Digest) ([]byte, error) {
	resp, err := f.get(ctx, src, meta.ManifestPath(d))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return f.checked(readLimited(resp.Body, meta.MaxManifestSize, resp.ContentLength, d))
}
