package main

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/piecefs/piecefs/image"
	"github.com/piecefs/piecefs/meta"
	pub "github.com/piecefs/piecefs/publish"
)

// testLayout writes an OCI layout of one image whose layers hold the
// given files (name → content, "" a whiteout when the name has .wh.).
func testLayout(t *testing.T, layers ...map[string]string) string {
	t.Helper()
	var ls []v1.Layer
	for _, files := range layers {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for name, body := range files {
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			io.WriteString(tw, body)
		}
		tw.Close()
		b := buf.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(d, empty.Index)
	if err == nil {
		err = p.AppendImage(img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestImportNoPartialPublication: a bad image (here a whiteout of a file
// no lower layer has, in the last layer) fails the import before a
// manifest or a tag is written; the tag is the last thing written.
func TestImportNoPartialPublication(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	bad := testLayout(t, map[string]string{"big": strings.Repeat("x", 100000)}, map[string]string{".wh.nothere": ""})
	_, err := importImage(context.Background(), bad, out, "latest", pub.Options{PieceSize: 4096}, image.Options{})
	if err == nil || !strings.Contains(err.Error(), "whiteout of nothere") {
		t.Fatalf("import: %v; want a refusal naming the whiteout", err)
	}
	for _, d := range []string{"tags", "manifests"} {
		if names, _ := os.ReadDir(filepath.Join(out, d)); len(names) != 0 {
			t.Errorf("%s/ holds %d names after a failed import", d, len(names))
		}
	}
}

// TestImportTwice: importing v2 of an image beside v1 writes only what
// changed, and each version's tag points at its manifest.
func TestImportTwice(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	big := strings.Repeat("0123456789abcdef", 1<<12)
	v1d := testLayout(t, map[string]string{"big": big, "small": "one"})
	v2d := testLayout(t, map[string]string{"big": big, "small": "one"}, map[string]string{"small": "two"})
	d1, err := importImage(context.Background(), v1d, out, "v1", pub.Options{PieceSize: 4096}, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pieces := func() int {
		n := 0
		filepath.WalkDir(filepath.Join(out, "pieces"), func(_ string, de os.DirEntry, _ error) error {
			if de != nil && !de.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	before := pieces()
	d2, err := importImage(context.Background(), v2d, out, "v2", pub.Options{PieceSize: 4096}, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pieces() - before; got != 1 {
		t.Errorf("v2 wrote %d new pieces, want 1 (the changed small file's pack)", got)
	}
	for tag, d := range map[string]string{"v1": d1.String(), "v2": d2.String()} {
		if b, _ := os.ReadFile(filepath.Join(out, "tags", tag)); strings.TrimSpace(string(b)) != d {
			t.Errorf("tags/%s = %q, want %s", tag, b, d)
		}
	}
}

// TestImportPrefetch: --prefetch publishes a start-up list with an
// imported image as with a directory, its ranges of paths the image lacks
// left out with a warning.
func TestImportPrefetch(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	d := testLayout(t, map[string]string{"bin/app": "application", "etc/conf": "conf"})
	l := meta.NewPrefetchList()
	l.Ranges = []meta.PrefetchRange{{Path: "bin/app", Length: 4}, {Path: "nothere", Length: 1}, {Path: "etc/conf", Offset: 1, Length: 2}}
	var warned []string
	po := pub.Options{PieceSize: 4096, Prefetch: l, Warn: func(p, why string) { warned = append(warned, p) }}
	dg, err := importImage(context.Background(), d, out, "latest", po, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "manifests", dg.Hex()+".json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := meta.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Prefetch == nil || m.Image == nil {
		t.Fatalf("manifest without a prefetch list (%v) or an image (%v)", m.Prefetch, m.Image)
	}
	if len(warned) != 1 || warned[0] != "nothere" {
		t.Errorf("warned about %q, want nothere", warned)
	}
}
