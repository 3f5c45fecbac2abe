package origin

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

func openTestDir(t *testing.T) (*Dir, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "out")
	d, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return d, root
}

func TestOpenDirLayout(t *testing.T) {
	_, root := openTestDir(t)
	for _, sub := range []string{"pieces", "manifests", "tags"} {
		if fi, err := os.Stat(filepath.Join(root, sub)); err != nil || !fi.IsDir() {
			t.Errorf("%s: got %v, want a directory", sub, err)
		}
	}
	if _, err := OpenDir(root); err != nil {
		t.Errorf("OpenDir on an existing directory: %v", err)
	}
}

func TestPutPiece(t *testing.T) {
	d, root := openTestDir(t)
	data := testData(3000)
	dg := meta.Sum(data)
	p := filepath.Join(root, meta.PiecePath(dg))

	if err := d.PutPiece(dg, data); err != nil {
		t.Fatalf("first PutPiece: %v", err)
	}
	checkFile(t, p, data)
	checkStats(t, d, 1, 0, int64(len(data)))

	if err := d.PutPiece(dg, data); err != nil {
		t.Fatalf("second PutPiece: %v", err)
	}
	checkStats(t, d, 1, 1, int64(len(data)))

	// A damaged file of the wrong size is replaced, not skipped.
	if err := os.WriteFile(p, data[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.PutPiece(dg, data); err != nil {
		t.Fatalf("PutPiece over a truncated file: %v", err)
	}
	checkFile(t, p, data)
	checkStats(t, d, 2, 1, 2*int64(len(data)))
	checkNoTemp(t, root)
}

func TestPutPieceWrongDigest(t *testing.T) {
	d, root := openTestDir(t)
	data := testData(100)
	wrong := meta.Sum([]byte("something else"))
	if err := d.PutPiece(wrong, data); err == nil {
		t.Fatal("PutPiece with the wrong digest: got no error")
	}
	if _, err := os.Lstat(filepath.Join(root, meta.PiecePath(wrong))); !os.IsNotExist(err) {
		t.Errorf("PutPiece with the wrong digest left a file (Lstat: %v)", err)
	}
	checkStats(t, d, 0, 0, 0)
}

func TestPutPieceConcurrent(t *testing.T) {
	const writers = 16
	d, root := openTestDir(t)
	data := testData(256 << 10)
	dg := meta.Sum(data)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() { errs <- d.PutPiece(dg, data) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent PutPiece: %v", err)
		}
	}
	checkFile(t, filepath.Join(root, meta.PiecePath(dg)), data)
	written, skipped, n := d.Stats()
	if written < 1 || written+skipped != writers || n != int64(written*len(data)) {
		t.Errorf("Stats: got %d written, %d skipped, %d bytes; want %d puts in all, at least one written", written, skipped, n, writers)
	}
	checkNoTemp(t, root)
}

func TestPutManifest(t *testing.T) {
	d, root := openTestDir(t)
	data := []byte(`{"format":"piecefs-manifest"}`)
	dg, err := d.PutManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := meta.Sum(data); dg != want {
		t.Errorf("PutManifest: got digest %s, want %s", dg, want)
	}
	checkFile(t, filepath.Join(root, meta.ManifestPath(dg)), data)
	if _, err := d.PutManifest(data); err != nil {
		t.Errorf("second PutManifest: %v", err)
	}
	checkStats(t, d, 0, 0, 0)
}

func TestSetTag(t *testing.T) {
	d, root := openTestDir(t)
	a, b := meta.Sum([]byte("a")), meta.Sum([]byte("b"))
	for _, dg := range []meta.Digest{a, b} {
		if err := d.SetTag("v1.0_rc-1", dg); err != nil {
			t.Fatalf("SetTag: %v", err)
		}
		checkFile(t, filepath.Join(root, meta.TagPath("v1.0_rc-1")), []byte(dg.String()+"\n"))
	}
	checkNoTemp(t, root)

	for _, name := range []string{"", ".", "..", "../x", "a/b", ".hidden", "-flag", "sp ace", "tab\t", strings.Repeat("x", 129)} {
		if err := d.SetTag(name, a); err == nil {
			t.Errorf("SetTag(%q): got no error", name)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "tags"))
	if err != nil || len(entries) != 1 {
		t.Errorf("tags directory: got %d entries (%v), want 1", len(entries), err)
	}
}

func checkFile(t *testing.T, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, %v; want %d bytes", p, len(got), err, len(want))
	}
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode() != fileMode {
		t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode(), err, os.FileMode(fileMode))
	}
}

func checkStats(t *testing.T, d *Dir, written, skipped int, n int64) {
	t.Helper()
	w, s, b := d.Stats()
	if w != written || s != skipped || b != n {
		t.Errorf("Stats: got (%d, %d, %d), want (%d, %d, %d)", w, s, b, written, skipped, n)
	}
}

// checkNoTemp fails if a temporary file is left anywhere under root.
func checkNoTemp(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".tmp") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return err
	})
}
