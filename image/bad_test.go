package image

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// blobPath returns where layer i of img lies in layout d.
func blobPath(t *testing.T, d string, img v1.Image, i int) string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	h, err := ls[i].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(d, "blobs", h.Algorithm, h.Hex)
}

func TestBadImages(t *testing.T) {
	good := func(t *testing.T) v1.Image {
		return imageOf(t, layerOf(t, dir("a"), file("a/x", strings.Repeat("x", 10000))), layerOf(t, file("a/y", "y")))
	}
	for _, tc := range []struct {
		name string
		make func(t *testing.T) string // returns the IMAGE argument
		opts Options
		want string
	}{
		{"missing blob", func(t *testing.T) string {
			img := good(t)
			d := writeLayout(t, map[string]v1.Image{"x": img})
			mustRemove(t, blobPath(t, d, img, 1))
			return d
		}, Options{}, "layer 1 (sha256:"},
		{"corrupt blob", func(t *testing.T) string {
			img := good(t)
			d := writeLayout(t, map[string]v1.Image{"x": img})
			p := blobPath(t, d, img, 0)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return d
		}, Options{}, "corrupt blob"},
		{"blob longer than its descriptor", func(t *testing.T) string {
			img := good(t)
			d := writeLayout(t, map[string]v1.Image{"x": img})
			f, _ := os.OpenFile(blobPath(t, d, img, 1), os.O_APPEND|os.O_WRONLY, 0)
			f.Write(make([]byte, 1024))
			f.Close()
			return d
		}, Options{}, "more than the"},
		{"dotdot path", layoutOf(file("a/../../etc/passwd", "x")), Options{}, `path "a/../../etc/passwd" escapes the root`},
		{"absolute path", layoutOf(file("/etc/passwd", "x")), Options{}, `absolute path "/etc/passwd"`},
		{"hardlink target escaping", layoutOf(hardlink("l", "../x")), Options{}, "escapes the root"},
		{"whiteout of a missing file", layoutOf(dir("a"), whiteout("a", "nothere")), Options{}, "layer 1 (sha256:"},
		{"hardlink to a missing target", layoutOf(hardlink("l", "nothere")), Options{}, "hardlink to nothere, which does not exist"},
		{"hardlink to a directory", layoutOf(dir("d"), hardlink("l", "d")), Options{}, "hardlink to d, a directory"},
		{"entry under a symlink", layoutOf(symlink("s", "/etc"), file("s/x", "x")), Options{}, "its parent s is a symlink"},
		{"root not a directory", layoutOf(file(".", "")), Options{}, "the root is not a directory"},
		{"unknown media type", func(t *testing.T) string {
			l, err := tarball.LayerFromOpener(opener(tarOf(t, file("x", "x"))), tarball.WithMediaType("application/vnd.example.thing"))
			if err != nil {
				t.Fatal(err)
			}
			return writeLayout(t, map[string]v1.Image{"x": imageOf(t, l)})
		}, Options{}, `unknown media type "application/vnd.example.thing"`},
		{"too many entries", layoutOf(dir("a"), file("a/1", ""), file("a/2", ""), file("a/3", "")), Options{MaxEntries: 4}, "more than 4 entries"},
		{"name too long", layoutOf(file(strings.Repeat("n/", 2048)+"x", "")), Options{}, "longer than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := build(t, tc.make(t), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want an error containing %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// layoutOf returns a maker of a layout whose image has one good layer and
// then a layer of es.
func layoutOf(es ...ent) func(t *testing.T) string {
	return func(t *testing.T) string {
		return writeLayout(t, map[string]v1.Image{"x": imageOf(t, layerOf(t, file("base", "b")), layerOf(t, es...))})
	}
}

func TestCorruptIsErrCorrupt(t *testing.T) {
	img := imageOf(t, layerOf(t, file("x", strings.Repeat("abc", 5000))))
	d := writeLayout(t, map[string]v1.Image{"x": img})
	p := blobPath(t, d, img, 0)
	b, _ := os.ReadFile(p)
	b[len(b)-10] ^= 1 // in the gzip trailer: the tar reads fine
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := build(t, d, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

// TestStopsEarly: a refusal in a layer's first entry neither reads the
// rest of a large layer nor leaves its decompressing goroutine behind.
func TestStopsEarly(t *testing.T) {
	big := strings.Repeat("0123456789", 400<<10)
	d := layoutOf(file("/abs", "x"), file("big", big))(t)
	before := runtime.NumGoroutine()
	if _, _, err := build(t, d, Options{}); err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Fatalf("got %v, want the absolute path refused", err)
	}
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d goroutines after the import, %d before", runtime.NumGoroutine(), before)
}
