package image

import (
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestCompressions reads gzip, zstd and plain tar layers, each verified
// (a plain layer's digest is its diff_id).
func TestCompressions(t *testing.T) {
	zst, err := tarball.LayerFromOpener(opener(tarOf(t, file("z", "zstd"))), tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zst.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	magic := make([]byte, 4)
	io.ReadFull(rc, magic)
	rc.Close()
	if string(magic) != "\x28\xb5\x2f\xfd" {
		t.Fatalf("the zstd layer starts with %x", magic)
	}
	plain := static.NewLayer(tarOf(t, file("p", "plain"), whiteout(".", "g")), types.OCIUncompressedLayer)
	img := imageOf(t, layerOf(t, file("g", "gzip")), zst, plain)
	m, s, err := build(t, writeLayout(t, map[string]v1.Image{"x": img}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"z": "zstd", "p": "plain"} {
		if got := content(t, m, s, p); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	if _, ok := m.Lookup("g"); ok {
		t.Error("g, whited out by the plain layer, survives")
	}
}
