package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// The crash loop's own publication: one file of small pieces, so that many
// are in flight at once and the loop does not run out of uncached ones.
const (
	crashPieceSize = 256 << 10
	crashFileSize  = 256 << 20
	crashFileName  = "big.bin"
)

// crashTree is a one-file tree published with crashPieceSize pieces.
type crashTree struct {
	out   string   // publish output
	file  *os.File // the source file, open for comparisons
	size  int64
	sum   string // the source file's sha256, hex
	spans []span // the file's pieces, in file order
	byDig map[meta.Digest]span
}

// newCrashTree writes and publishes the tree in a directory of the test.
func newCrashTree(t *testing.T) *crashTree {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := &crashTree{out: filepath.Join(dir, "out"), size: crashFileSize}
	tr.sum = crashWriteFile(t, filepath.Join(src, crashFileName), crashFileSize)
	digest, err := publish(fx.bin, src, tr.out, "--piece-size", "256KiB")
	if err != nil {
		t.Fatal(err)
	}
	tr.spans = fileSpans(t, crashLoadManifest(t, tr.out, digest), crashFileName)
	tr.byDig = map[meta.Digest]span{}
	for _, s := range tr.spans {
		tr.byDig[s.piece.Digest] = s
	}
	if tr.file, err = os.Open(filepath.Join(src, crashFileName)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.file.Close() })
	return tr
}

// crashWriteFile writes size seeded random bytes, distinct from the shared
// tree's, and returns their sha256.
func crashWriteFile(t *testing.T, path string, size int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	_, err = io.CopyN(io.MultiWriter(f, h), rand.NewChaCha8([32]byte{'c', 'r', 'a', 's', 'h'}), size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// crashLoadManifest decodes the manifest digest from a publish output.
func crashLoadManifest(t *testing.T, out, digest string) *meta.Manifest {
	t.Helper()
	d, err := meta.ParseDigest(digest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(meta.ManifestPath(d))))
	if err != nil {
		t.Fatalf("read the published manifest: %v", err)
	}
	m, err := meta.Decode(b)
	if err != nil {
		t.Fatalf("decode the published manifest: %v", err)
	}
	return m
}
