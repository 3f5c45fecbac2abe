package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// rewriteTar copies the tar at p, passing each member through edit (which
// may change its bytes or drop it with ok false) and appending extra.
func rewriteTar(t *testing.T, p string, edit func(h *tar.Header, b []byte) ([]byte, bool), extra ...ent) string {
	t.Helper()
	in, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		b, ok := edit(h, b)
		if !ok {
			continue
		}
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	for _, e := range extra {
		tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Size: int64(len(e.body)), Mode: 0o644})
		io.WriteString(tw, e.body)
	}
	tw.Close()
	out := filepath.Join(t.TempDir(), "rewritten.tar")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestArchiveCorruptBlob(t *testing.T) {
	img := imageOf(t, layerOf(t, file("x", strings.Repeat("x", 3000))))
	ls, _ := img.Layers()
	h, _ := ls[0].Digest()
	a := rewriteTar(t, tarDir(t, writeLayout(t, map[string]v1.Image{"x": img})), func(hd *tar.Header, b []byte) ([]byte, bool) {
		if strings.HasSuffix(hd.Name, h.Hex) {
			b[len(b)/2] ^= 0x55
		}
		return b, true
	})
	if _, _, err := build(t, a, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

// TestDockerArchiveLinkedLayer: docker save of several images stores a
// shared layer once and links the others to it.
func TestDockerArchiveLinkedLayer(t *testing.T) {
	img := imageOf(t, layerOf(t, file("x", "x")), layerOf(t, file("y", "y")))
	orig := dockerArchive(t, img, "a:1")
	ar, err := openArchive(orig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ar.readAll("manifest.json")
	ar.Close()
	var mf tarball.Manifest
	if err == nil {
		err = json.Unmarshal(b, &mf)
	}
	if err != nil {
		t.Fatal(err)
	}
	first := mf[0].Layers[0]
	mf[0].Layers[0] = "linked/layer.tar"
	a := rewriteTar(t, orig, func(h *tar.Header, b []byte) ([]byte, bool) {
		if h.Name == "manifest.json" {
			b, _ = json.Marshal(mf)
		}
		return b, true
	}, ent{name: "linked/layer.tar", typ: tar.TypeSymlink, link: "../" + first})
	m, s, err := build(t, a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if content(t, m, s, "x") != "x" || content(t, m, s, "y") != "y" {
		t.Fatal("wrong contents through a linked layer")
	}
}

// TestArchiveLinks: a member linking to a missing name, or to the
// archive's root, or in a loop, is not found rather than read as empty.
func TestArchiveLinks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.tar")
	os.WriteFile(p, tarOf(t, file("f", "data"), symlink("d/up", "../"), symlink("d/f", "../f"), hardlink("h", "f"),
		symlink("loop", "loop"), symlink("gone", "nothere")), 0o644)
	a, err := openArchive(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for name, want := range map[string]string{"d/f": "data", "h": "data", "d/up": "", "loop": "", "gone": ""} {
		b, err := a.readAll(name)
		if want == "" && err == nil {
			t.Errorf("%s: read %q, want an error", name, b)
		}
		if want != "" && string(b) != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
}

func TestNotAnImage(t *testing.T) {
	d := t.TempDir()
	junk := filepath.Join(d, "junk")
	os.WriteFile(junk, bytes.Repeat([]byte("not a tar "), 100), 0o644)
	empty := filepath.Join(d, "empty.tar")
	os.WriteFile(empty, tarOf(t, file("hello", "x")), 0o644)
	for spec, want := range map[string]string{
		junk:                       "not a tar archive",
		empty:                      "neither an OCI archive (no index.json) nor a docker save tarball (no manifest.json)",
		d:                          "not an OCI image layout",
		filepath.Join(d, "absent"): "no such file",
	} {
		if _, err := Open(spec, Options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s): %v; want %q", spec, err, want)
		}
	}
}
