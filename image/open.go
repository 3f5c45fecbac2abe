package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/piecefs/piecefs/meta"
)

// Options tunes Open.
type Options struct {
	// Platform picks one image of a multi-platform index, as OS/ARCH or
	// OS/ARCH/VARIANT. Empty means this machine's (runtime.GOOS/GOARCH);
	// an image that is alone is then taken whatever its platform, while
	// one named explicitly must match the image's config too.
	Platform string
	// MaxEntries bounds the tar entries of all layers together, to refuse
	// tar bombs; 0 means DefaultMaxEntries.
	MaxEntries int
}

// DefaultMaxEntries is the default bound on the tar entries of an image's
// layers, whiteouts included.
const DefaultMaxEntries = 10_000_000

// Image is an OCI image opened for flattening: its layers, bottom first,
// and its config. It is a publish.Source (see Entries).
type Image struct {
	layers     []layer
	config     *meta.Image
	maxEntries int
	closer     io.Closer // the archive file, or nil
}

// layer is one layer's blob: open returns its bytes as stored (maybe
// compressed), which are verified against digest (when the image names
// the blob by its digest) and, uncompressed, against diffID.
type layer struct {
	index  int
	what   string // for messages: "layer 2 (sha256:…)"
	open   func() (io.ReadCloser, error)
	digest v1.Hash // zero for a docker save layer, named by its path
	size   int64   // -1 when unknown
	diffID v1.Hash
}

// blobStore opens an OCI layout's blobs; layout.Path and archive are two.
type blobStore interface {
	Blob(h v1.Hash) (io.ReadCloser, error)
}

// Open opens spec: an OCI image layout directory (DIR, or DIR:REF with REF
// an org.opencontainers.image.ref.name of its index), an OCI archive (a tar
// of such a directory, FILE or FILE:REF) or a docker save tarball (FILE or
// FILE:REPO:TAG). It reads and verifies the index, manifest and config;
// the layers are read by Entries.
func Open(spec string, opts Options) (*Image, error) {
	p, ref := splitRef(spec)
	want, explicit, err := platform(opts.Platform)
	if err != nil {
		return nil, err
	}
	im, err := openPath(p, ref, want, explicit)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec, err)
	}
	im.maxEntries = opts.MaxEntries
	if im.maxEntries <= 0 {
		im.maxEntries = DefaultMaxEntries
	}
	return im, nil
}

// Config returns what the image's config says about running it.
func (im *Image) Config() *meta.Image { return im.config }

// Close releases the archive the image is read from, if any.
func (im *Image) Close() error {
	if im.closer == nil {
		return nil
	}
	return im.closer.Close()
}

// splitRef splits IMAGE into a path that exists and the REF after it, if
// the whole is not a path itself: "dir:v1" → ("dir", "v1"), and a docker
// archive's "f.tar:busybox:1.36" → ("f.tar", "busybox:1.36").
func splitRef(spec string) (string, string) {
	if _, err := os.Stat(spec); err == nil {
		return spec, ""
	}
	for i := range len(spec) {
		if spec[i] != ':' {
			continue
		}
		if _, err := os.Stat(spec[:i]); err == nil {
			return spec[:i], spec[i+1:]
		}
	}
	return spec, ""
}

func platform(s string) (v1.Platform, bool, error) {
	if s == "" {
		return v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}, false, nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return v1.Platform{}, false, fmt.Errorf("platform %q: want OS/ARCH or OS/ARCH/VARIANT", s)
	}
	return *p, true, nil
}

func openPath(p, ref string, want v1.Platform, explicit bool) (*Image, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		lp, err := layout.FromPath(p)
		if err != nil {
			return nil, fmt.Errorf("not an OCI image layout: %w", err)
		}
		return fromLayout(lp, func() ([]byte, error) { return layoutIndex(lp) }, ref, want, explicit)
	}
	a, err := openArchive(p)
	if err != nil {
		return nil, err
	}
	im, err := fromArchive(a, ref, want, explicit)
	if err != nil {
		a.Close()
		return nil, err
	}
	im.closer = a
	return im, nil
}

func fromArchive(a *archive, ref string, want v1.Platform, explicit bool) (*Image, error) {
	switch {
	case a.has("manifest.json"):
		return fromDocker(a, ref, want, explicit)
	case a.has("index.json"):
		return fromLayout(a, func() ([]byte, error) { return a.readAll("index.json") }, ref, want, explicit)
	}
	return nil, errors.New("neither an OCI archive (no index.json) nor a docker save tarball (no manifest.json)")
}

// readAll reads a small member whole.
func (a *archive) readAll(name string) ([]byte, error) {
	rc, err := a.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxJSON+1))
	if err == nil && len(b) > maxJSON {
		err = fmt.Errorf("%s: more than %d bytes", name, maxJSON)
	}
	return b, err
}

// fromDocker reads a docker save tarball: manifest.json lists images by
// their repository tags, each a config and its layers by member name.
func fromDocker(a *archive, ref string, want v1.Platform, explicit bool) (*Image, error) {
	b, err := a.readAll("manifest.json")
	if err != nil {
		return nil, err
	}
	var mf tarball.Manifest
	if err := json.Unmarshal(b, &mf); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	d, err := dockerImage(mf, ref)
	if err != nil {
		return nil, err
	}
	cfg, err := dockerConfig(a, d.Config)
	if err != nil {
		return nil, err
	}
	im := &Image{}
	if im.config, err = imageConfig(cfg, want, explicit); err != nil {
		return nil, err
	}
	if len(cfg.RootFS.DiffIDs) != len(d.Layers) {
		return nil, fmt.Errorf("manifest.json lists %d layers, the config %d diff_ids", len(d.Layers), len(cfg.RootFS.DiffIDs))
	}
	for i, p := range d.Layers {
		im.layers = append(im.layers, layer{
			index: i, what: fmt.Sprintf("layer %d (%s)", i, p),
			open:   func() (io.ReadCloser, error) { return a.open(cleanMember(p)) },
			size:   -1,
			diffID: cfg.RootFS.DiffIDs[i],
		})
	}
	return im, nil
}

func dockerImage(mf tarball.Manifest, ref string) (*tarball.Descriptor, error) {
	if ref == "" {
		if len(mf) != 1 {
			return nil, fmt.Errorf("%d images in manifest.json; name one as FILE:REPO:TAG (%s)", len(mf), dockerTags(mf))
		}
		return &mf[0], nil
	}
	want, err := name.NewTag(ref)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w", ref, err)
	}
	for i := range mf {
		for _, t := range mf[i].RepoTags {
			if have, err := name.NewTag(t); err == nil && have.Name() == want.Name() {
				return &mf[i], nil
			}
		}
	}
	return nil, fmt.Errorf("no image tagged %s in manifest.json (it has: %s)", ref, dockerTags(mf))
}

func dockerTags(mf tarball.Manifest) string {
	var tags []string
	for _, d := range mf {
		tags = append(tags, d.RepoTags...)
	}
	if len(tags) == 0 {
		return "no tags"
	}
	return strings.Join(tags, ", ")
}

// dockerConfig reads the config member, and verifies it when its name is
// its digest (<hex>.json, or blobs/sha256/<hex> since Docker 25).
func dockerConfig(a *archive, member string) (*v1.ConfigFile, error) {
	member = cleanMember(member)
	hex := strings.TrimSuffix(path.Base(member), ".json")
	b, err := a.readAll(member)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if h, herr := v1.NewHash("sha256:" + hex); herr == nil {
		d := v1.Descriptor{Digest: h, Size: int64(len(b))}
		if b, err = readBlob(func() (io.ReadCloser, error) { return a.open(member) }, d, "config"); err != nil {
			return nil, err
		}
	}
	return parseConfig(b)
}
