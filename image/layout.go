package image

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/piecefs/piecefs/meta"
)

// refAnnotation names an image in an OCI layout's index.
const refAnnotation = "org.opencontainers.image.ref.name"

// maxIndexDepth bounds indexes nested in indexes.
const maxIndexDepth = 4

func layoutIndex(lp layout.Path) ([]byte, error) {
	ii, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	return ii.RawManifest()
}

// fromLayout reads an OCI layout: index.json (the root of trust, as in
// every OCI tool) names manifests by digest, a manifest names its config
// and layers by digest, and each is verified as it is read.
func fromLayout(st blobStore, indexJSON func() ([]byte, error), ref string, want v1.Platform, explicit bool) (*Image, error) {
	b, err := indexJSON()
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	cands := idx.Manifests
	if ref != "" {
		cands = slices.DeleteFunc(slices.Clone(cands), func(d v1.Descriptor) bool { return d.Annotations[refAnnotation] != ref })
		if len(cands) == 0 {
			return nil, fmt.Errorf("no image named %q in index.json (it has: %s)", ref, refs(idx.Manifests))
		}
	}
	d, err := pick(st, cands, want, explicit, 0)
	if err != nil {
		return nil, err
	}
	return layoutImage(st, d, want, explicit)
}

func refs(ds []v1.Descriptor) string {
	var r []string
	for _, d := range ds {
		if n := d.Annotations[refAnnotation]; n != "" {
			r = append(r, n)
		}
	}
	if len(r) == 0 {
		return "no refs"
	}
	return strings.Join(r, ", ")
}

// pick chooses one image manifest among cands, descending into nested
// indexes: the only one, or the one of the wanted platform.
func pick(st blobStore, cands []v1.Descriptor, want v1.Platform, explicit bool, depth int) (v1.Descriptor, error) {
	if len(cands) == 1 && cands[0].MediaType.IsIndex() {
		if depth == maxIndexDepth {
			return v1.Descriptor{}, fmt.Errorf("indexes nested more than %d deep", maxIndexDepth)
		}
		b, err := readBlob(func() (io.ReadCloser, error) { return st.Blob(cands[0].Digest) }, cands[0], "index")
		if err != nil {
			return v1.Descriptor{}, err
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("index %s: %w", cands[0].Digest, err)
		}
		return pick(st, idx.Manifests, want, explicit, depth+1)
	}
	if len(cands) == 1 && (!explicit || cands[0].Platform == nil) {
		return cands[0], nil
	}
	var match []v1.Descriptor
	for _, d := range cands {
		if d.Platform != nil && d.MediaType.IsImage() && d.Platform.Satisfies(want) {
			match = append(match, d)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		if !slices.ContainsFunc(cands, func(d v1.Descriptor) bool { return d.Platform != nil }) {
			return v1.Descriptor{}, fmt.Errorf("%d manifests in the index and none says its platform; name one as IMAGE:REF (refs: %s)", len(cands), refs(cands))
		}
		return v1.Descriptor{}, fmt.Errorf("no image for platform %s (the index has: %s); choose one with --platform", want, platforms(cands))
	}
	return v1.Descriptor{}, fmt.Errorf("%d images for platform %s (the index has: %s); name a variant with --platform", len(match), want, platforms(cands))
}

func platforms(ds []v1.Descriptor) string {
	var r []string
	for _, d := range ds {
		switch {
		case d.Platform != nil:
			r = append(r, d.Platform.String())
		case d.MediaType.IsIndex():
			r = append(r, "an index")
		default:
			r = append(r, "an image of no platform")
		}
	}
	if len(r) == 0 {
		return "nothing"
	}
	return strings.Join(r, ", ")
}

// layoutImage reads and verifies an image manifest and its config.
func layoutImage(st blobStore, d v1.Descriptor, want v1.Platform, explicit bool) (*Image, error) {
	if !d.MediaType.IsImage() {
		return nil, fmt.Errorf("manifest %s: unknown media type %q", d.Digest, d.MediaType)
	}
	b, err := readBlob(func() (io.ReadCloser, error) { return st.Blob(d.Digest) }, d, "manifest")
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if m.Config.MediaType != types.OCIConfigJSON && m.Config.MediaType != types.DockerConfigJSON {
		return nil, fmt.Errorf("config %s: unknown media type %q", m.Config.Digest, m.Config.MediaType)
	}
	b, err = readBlob(func() (io.ReadCloser, error) { return st.Blob(m.Config.Digest) }, m.Config, "config")
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return nil, err
	}
	im := &Image{}
	if im.config, err = imageConfig(cfg, want, explicit); err != nil {
		return nil, err
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("manifest %s lists %d layers, its config %d diff_ids", d.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for i, ld := range m.Layers {
		if !layerType(ld.MediaType) {
			return nil, fmt.Errorf("layer %d (%s): unknown media type %q", i, ld.Digest, ld.MediaType)
		}
		im.layers = append(im.layers, layer{
			index: i, what: fmt.Sprintf("layer %d (%s)", i, ld.Digest),
			open:   func() (io.ReadCloser, error) { return st.Blob(ld.Digest) },
			digest: ld.Digest, size: ld.Size, diffID: cfg.RootFS.DiffIDs[i],
		})
	}
	return im, nil
}

// layerType reports whether a layer of this media type is a tar, plain or
// compressed with gzip or zstd: the layer types of the OCI image spec and
// of Docker's v2 schema.
func layerType(mt types.MediaType) bool {
	switch mt {
	case types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer,
		types.OCIRestrictedLayer, types.OCIUncompressedRestrictedLayer,
		types.DockerLayer, types.DockerUncompressedLayer, types.DockerForeignLayer:
		return true
	}
	return false
}

func parseConfig(b []byte) (*v1.ConfigFile, error) {
	cfg, err := v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// imageConfig takes the process settings out of the config, checking its
// platform against one asked for by name.
func imageConfig(cfg *v1.ConfigFile, want v1.Platform, explicit bool) (*meta.Image, error) {
	if explicit && (cfg.OS != want.OS || cfg.Architecture != want.Architecture) {
		return nil, fmt.Errorf("the image is for %s/%s, not %s", cfg.OS, cfg.Architecture, want)
	}
	c := cfg.Config
	return &meta.Image{
		OS: cfg.OS, Architecture: cfg.Architecture,
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env,
		WorkingDir: c.WorkingDir, User: c.User,
	}, nil
}
