package image

import (
	"archive/tar"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// tarDir writes the directory d as a tar file, as `skopeo copy
// oci-archive:` does, and returns its path.
func tarDir(t *testing.T, d string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "archive.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(d, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dockerArchive(t *testing.T, img v1.Image, tag string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "docker.tar")
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestForms imports one image from a layout, an OCI archive and a docker
// save tarball: the same tree, so the same manifest.
func TestForms(t *testing.T) {
	img := twoLayers(t)
	d := writeLayout(t, map[string]v1.Image{"v1": img, "other": imageOf(t, layerOf(t, file("o", "o")))})
	want, _, err := build(t, d+":v1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantEnc, _ := want.Encode()
	for name, spec := range map[string]string{
		"OCI archive":      tarDir(t, d) + ":v1",
		"docker save":      dockerArchive(t, img, "example.com/app:1.0"),
		"docker save, tag": dockerArchive(t, img, "example.com/app:1.0") + ":example.com/app:1.0",
	} {
		t.Run(name, func(t *testing.T) {
			m, _, err := build(t, spec, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if enc, _ := m.Encode(); string(enc) != string(wantEnc) {
				t.Fatalf("manifest differs from the layout's:\n%s\n%s", enc, wantEnc)
			}
		})
	}
	for spec, msg := range map[string]string{
		d:                                     "name one as IMAGE:REF (refs: ",
		d + ":nope":                           `no image named "nope" in index.json (it has: `,
		tarDir(t, d):                          "name one as IMAGE:REF",
		dockerArchive(t, img, "a:1") + ":b:2": "no image tagged b:2 in manifest.json (it has: a:1)",
	} {
		if _, err := Open(spec, Options{}); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Open(%s): %v; want %q", spec, err, msg)
		}
	}
}

// TestPlatform picks one image of a multi-platform index.
func TestPlatform(t *testing.T) {
	amd := imageOf(t, layerOf(t, file("arch", "amd64")))
	armCfg, _ := imageOf(t, layerOf(t, file("arch", "arm64"))).ConfigFile()
	armCfg = armCfg.DeepCopy()
	armCfg.Architecture = "arm64"
	arm, err := mutate.ConfigFile(imageOf(t, layerOf(t, file("arch", "arm64"))), armCfg)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	d := filepath.Join(t.TempDir(), "multi")
	p, err := layout.Write(d, empty.Index)
	if err == nil {
		err = p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refAnnotation: "multi"}))
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		m, s, err := build(t, d+":multi", Options{Platform: "linux/" + arch})
		if err != nil {
			t.Fatal(err)
		}
		if got := content(t, m, s, "arch"); got != arch || m.Image.Architecture != arch {
			t.Errorf("--platform linux/%s gave %q (%s)", arch, got, m.Image.Architecture)
		}
	}
	_, err = Open(d, Options{Platform: "linux/riscv64"})
	if err == nil || !strings.Contains(err.Error(), "no image for platform linux/riscv64 (the index has: linux/amd64, linux/arm64)") {
		t.Errorf("linux/riscv64: %v", err)
	}
	if _, err := Open(d, Options{Platform: "linux"}); err == nil || !strings.Contains(err.Error(), "OS/ARCH") {
		t.Errorf("bad --platform: %v", err)
	}
	// An image alone is taken whatever its platform, unless one is named.
	one := writeLayout(t, map[string]v1.Image{"x": arm})
	if _, err := Open(one, Options{}); err != nil {
		t.Errorf("a lone arm64 image: %v", err)
	}
	if _, err := Open(one, Options{Platform: "linux/amd64"}); err == nil || !strings.Contains(err.Error(), "the image is for linux/arm64, not linux/amd64") {
		t.Errorf("a lone arm64 image with --platform linux/amd64: %v", err)
	}
}
