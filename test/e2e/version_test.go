package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// TestVersion1Mounts publishes a tree (version 2), rewrites its manifest as
// the version 1 a piecefs of before block tables wrote (no block size, no
// tables), and mounts both: each reads back every file.
func TestVersion1Mounts(t *testing.T) {
	src := t.TempDir()
	files := map[string][]byte{
		"small.txt": []byte("hello\n"),
		"big.bin":   hostileBytes(7, 5<<20+123), // several pieces, many blocks each
		"d/mid.bin": hostileBytes(8, 300<<10),
	}
	for name, b := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	v2, err := publish(fx.bin, src, out, "--tag", "v2")
	if err != nil {
		t.Fatal(err)
	}
	m := readPublished(t, out, v2)
	if m.Version != meta.VersionBlocks {
		t.Fatalf("publish wrote version %d, want %d", m.Version, meta.VersionBlocks)
	}
	m.Version, m.BlockSize = meta.VersionWholePieces, 0
	for i := range m.Pieces {
		m.Pieces[i].Blocks = meta.Digest{}
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	enc, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	v1 := meta.Sum(enc)
	writeLayout(t, out, meta.ManifestPath(v1), enc)
	writeLayout(t, out, meta.TagPath("v1"), []byte(v1.String()+"\n"))

	url := startServeOrigin(t, out)
	for _, tag := range []string{"v1", "v2"} {
		mnt := startMount(t, url, t.TempDir(), "--tag", tag)
		for name, want := range files {
			if got := mustRun(t, "", "cat", filepath.Join(mnt.dir, filepath.FromSlash(name))); !bytes.Equal(got, want) {
				t.Errorf("--tag %s: %s reads %d other bytes", tag, name, len(got))
			}
		}
		mnt.Stop(t)
	}
}

// readPublished decodes the manifest d from a publish output directory.
func readPublished(t *testing.T, out, d string) *meta.Manifest {
	t.Helper()
	dg, err := meta.ParseDigest(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(meta.ManifestPath(dg))))
	if err != nil {
		t.Fatal(err)
	}
	m, err := meta.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeLayout(t *testing.T, out, rel string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(out, filepath.FromSlash(rel)), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
