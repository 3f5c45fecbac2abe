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
	checkStats(t, d, Stats{Written: 1, WrittenBytes: int64(len(data))})

	if err := d.PutPiece(dg, data); err != nil {
		t.Fatalf("second PutPiece: %v", err)
	}
	checkStats(t, d, Stats{Written: 1, Skipped: 1, WrittenBytes: int64(len(data))})

	// A damaged file of the wrong size is replaced, not skipped.
	if err := os.WriteFile(p, data[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.PutPiece(dg, data); err != nil {
		t.Fatalf("PutPiece over a truncated file: %v", err)
	}
	checkFile(t, p, data)
	checkStats(t, d, Stats{Written: 2, Skipped: 1, WrittenBytes: 2 * int64(len(data)), Repaired: 1})
	checkNoTemp(t, root)
}

// TestPutRepairsSameSizeDamage damages a piece and a manifest in place,
// keeping their sizes: putting them again must restore their bytes, not
// take the size as proof that they are whole.
func TestPutRepairsSameSizeDamage(t *testing.T) {
	d, root := openTestDir(t)
	data := testData(3000)
	dg := meta.Sum(data)
	manifest := []byte(`{"format":"piecefs-manifest"}`)
	must(t, d.PutPiece(dg, data))
	md, err := d.PutManifest(manifest)
	must(t, err)
	p, mp := filepath.Join(root, meta.PiecePath(dg)), filepath.Join(root, meta.ManifestPath(md))
	flipByte(t, p, 1234)
	flipByte(t, mp, 3)

	must(t, d.PutPiece(dg, data))
	_, err = d.PutManifest(manifest)
	must(t, err)
	checkFile(t, p, data)
	checkFile(t, mp, manifest)
	checkStats(t, d, Stats{Written: 2, WrittenBytes: 2 * int64(len(data)), Repaired: 2})
	checkNoTemp(t, root)
}

// TestPutPieceReplacesPlantedSymlink: a symlink under a piece's name is
// replaced, and never written through.
func TestPutPieceReplacesPlantedSymlink(t *testing.T) {
	d, root := openTestDir(t)
	data := testData(500)
	dg := meta.Sum(data)
	outside := filepath.Join(t.TempDir(), "outside")
	must(t, os.WriteFile(outside, data, 0o600))
	p := filepath.Join(root, meta.PiecePath(dg))
	must(t, mkdirDurable(filepath.Dir(p)))
	must(t, os.Symlink(outside, p))

	must(t, d.PutPiece(dg, data))
	checkFile(t, p, data) // Lstat: a regular file now
	if fi, err := os.Stat(outside); err != nil || fi.Mode() != 0o600 {
		t.Errorf("the symlink's target was touched: %v, %v", fi.Mode(), err)
	}
	checkStats(t, d, Stats{Written: 1, WrittenBytes: int64(len(data)), Repaired: 1})
}

// flipByte changes one byte of the file at p in place.
func flipByte(t *testing.T, p string, off int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	must(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	must(t, err)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
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
	checkStats(t, d, Stats{})
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
	st := d.Stats()
	if st.Written < 1 || st.Written+st.Skipped != writers || st.WrittenBytes != int64(st.Written*len(data)) || st.Repaired != 0 {
		t.Errorf("Stats: got %+v; want %d puts in all, at least one written, none repaired", st, writers)
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
	checkStats(t, d, Stats{})
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

func checkStats(t *testing.T, d *Dir, want Stats) {
	t.Helper()
	if got := d.Stats(); got != want {
		t.Errorf("Stats: got %+v, want %+v", got, want)
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
