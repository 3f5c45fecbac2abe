package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/publish"
)

// ent is one tar entry of a test layer.
type ent struct {
	name string
	typ  byte
	body string
	mode int64
	link string
	pax  map[string]string
	maj  int64
	min  int64
}

var mtime = time.Unix(1700000000, 123456789)

func dir(name string) ent              { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func file(name, body string) ent       { return ent{name: name, typ: tar.TypeReg, body: body, mode: 0o644} }
func hardlink(name, target string) ent { return ent{name: name, typ: tar.TypeLink, link: target} }
func symlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func whiteout(dir, name string) ent  { return file(dir+"/.wh."+name, "") }
func opaque(dir string) ent          { return file(dir+"/.wh..wh..opq", "") }
func withMode(e ent, mode int64) ent { e.mode = mode; return e }
func withPAX(e ent, k, v string) ent { e.pax = map[string]string{k: v}; return e }
func device(name string, typ byte, maj, min int64) ent {
	return ent{name: name, typ: typ, mode: 0o600, maj: maj, min: min}
}

// tarOf writes the entries as a tar, PAX format (sub-second mtimes, xattrs).
func tarOf(t *testing.T, es ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body)),
			Uid: 1000, Gid: 100, ModTime: mtime, PAXRecords: e.pax, Devmajor: e.maj, Devminor: e.min, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func opener(b []byte) tarball.Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func layerOf(t *testing.T, es ...ent) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(opener(tarOf(t, es...)))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf builds an image of the layers, bottom first, with a config.
func imageOf(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = v1.Config{Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "echo hi"}, Env: []string{"PATH=/bin"}, WorkingDir: "/srv", User: "1000:100"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return mutate.MediaType(img, types.OCIManifestSchema1)
}

// writeLayout writes images into a new OCI layout, each under its ref.
func writeLayout(t *testing.T, imgs map[string]v1.Image) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(d, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for ref, img := range imgs {
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{refAnnotation: ref})); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// memSink keeps pieces in memory.
type memSink map[meta.Digest][]byte

func (s memSink) PutPiece(d meta.Digest, b []byte) error { s[d] = bytes.Clone(b); return nil }
func (s memSink) PutBlocks(meta.Digest, []byte) error    { return nil }

// build opens spec and packs it as piecefs import does.
func build(t *testing.T, spec string, opts Options) (*meta.Manifest, memSink, error) {
	t.Helper()
	im, err := Open(spec, opts)
	if err != nil {
		return nil, nil, err
	}
	defer im.Close()
	sink := memSink{}
	m, err := publish.BuildFrom(context.Background(), im, sink, publish.Options{PieceSize: 4096, Image: im.Config()})
	return m, sink, err
}

// content returns the bytes of file p of m.
func content(t *testing.T, m *meta.Manifest, s memSink, p string) string {
	t.Helper()
	i, ok := m.Lookup(p)
	if !ok {
		t.Fatalf("%s: missing", p)
	}
	e := &m.Entries[m.Inode(i)]
	var b []byte
	for _, x := range e.Extents {
		b = append(b, s[m.Pieces[x.Piece].Digest][x.Offset:x.Offset+x.Length]...)
	}
	return string(b)
}

func mustRemove(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}
