package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// TestPublishLayout checks the publish output of the shared tree: the tag,
// a manifest named by its hash that lists every source entry, and pieces
// named by their hashes with nothing else beside them.
func TestPublishLayout(t *testing.T) {
	t.Logf("the shared tree published as %s", fx.digest)
	d, err := meta.ParseDigest(fx.digest)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := os.ReadFile(filepath.Join(fx.out, filepath.FromSlash(meta.TagPath("latest"))))
	if err != nil || string(tag) != fx.digest+"\n" {
		t.Errorf("tags/latest: %q, %v; want %q", tag, err, fx.digest+"\n")
	}
	raw, err := os.ReadFile(filepath.Join(fx.out, filepath.FromSlash(meta.ManifestPath(d))))
	if err != nil {
		t.Fatal(err)
	}
	if got := meta.Sum(raw); got != d {
		t.Errorf("manifest %s has sha256 %s", d, got)
	}
	m := loadManifest(t)
	if m.PieceSize != pieceSize {
		t.Errorf("piece size %d, want %d (--piece-size 1MiB)", m.PieceSize, pieceSize)
	}
	checkManifestNames(t, m)
	checkPieceFiles(t, fx.out, m)
}

func checkManifestNames(t *testing.T, m *meta.Manifest) {
	want, err := sourceNames(fx.tree.root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range m.Entries[1:] {
		got = append(got, e.Path)
	}
	slices.Sort(want)
	slices.Sort(got)
	if missing, extra := diffSorted(want, got); len(missing)+len(extra) > 0 {
		t.Errorf("manifest entries: %d missing %q, %d extra %q", len(missing), firstN(missing), len(extra), firstN(extra))
	}
}

// checkPieceFiles checks that out/pieces holds exactly the manifest's
// pieces, each at its fan-out path, with its size and hash.
func checkPieceFiles(t *testing.T, out string, m *meta.Manifest) {
	want := map[string]meta.Piece{}
	for _, p := range m.Pieces {
		want[filepath.Join(out, filepath.FromSlash(meta.PiecePath(p.Digest)))] = p
	}
	err := filepath.WalkDir(filepath.Join(out, "pieces"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		p, ok := want[path]
		if !ok {
			t.Errorf("%s is not a piece of the manifest", path)
			return nil
		}
		delete(want, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if int64(len(b)) != p.Size || meta.Sum(b) != p.Digest {
			t.Errorf("%s: %d bytes with sha256 %s, want %d bytes", path, len(b), meta.Sum(b), p.Size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for path := range want {
		t.Errorf("piece file %s is missing", path)
	}
}

// TestPublishPieceSizes checks the size syntaxes --piece-size takes.
func TestPublishPieceSizes(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), make([]byte, 5<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]int64{"65536": 65536, "4MiB": 4 << 20, "1MiB": 1 << 20} {
		t.Run(flag, func(t *testing.T) {
			out := t.TempDir()
			digest, err := publish(fx.bin, src, out, "--piece-size", flag)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := meta.ParseDigest(digest)
			raw, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(meta.ManifestPath(d))))
			if err != nil {
				t.Fatal(err)
			}
			m, err := meta.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if m.PieceSize != want {
				t.Errorf("--piece-size %s: manifest piece size %d, want %d", flag, m.PieceSize, want)
			}
		})
	}
}
