package origin

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/piecefs/piecefs/meta"
)

// PutPiece stores data as the piece with digest dg, which must be data's
// sha256. A piece already present with the right size is left alone and
// counted as skipped: its name is its hash, so it holds the same bytes.
func (d *Dir) PutPiece(dg meta.Digest, data []byte) error {
	if got := meta.Sum(data); got != dg {
		return fmt.Errorf("put piece %s: the data's sha256 is %s", dg, got)
	}
	written, err := d.putImmutable(meta.PiecePath(dg), data)
	if err != nil {
		return fmt.Errorf("put piece %s: %w", dg, err)
	}
	d.count(written, len(data))
	return nil
}

// PutManifest stores an encoded manifest under its digest, which it returns.
func (d *Dir) PutManifest(data []byte) (meta.Digest, error) {
	dg := meta.Sum(data)
	if len(data) > meta.MaxManifestSize {
		return dg, fmt.Errorf("put manifest %s: %d bytes is more than the limit of %d", dg, len(data), meta.MaxManifestSize)
	}
	if _, err := d.putImmutable(meta.ManifestPath(dg), data); err != nil {
		return dg, fmt.Errorf("put manifest %s: %w", dg, err)
	}
	return dg, nil
}

// SetTag points tag name at the manifest with digest dg, atomically
// replacing what it pointed at before.
func (d *Dir) SetTag(name string, dg meta.Digest) error {
	if err := meta.ValidTag(name); err != nil {
		return fmt.Errorf("set tag: %w", err)
	}
	p := d.path(meta.TagPath(name))
	if err := writeAtomic(filepath.Dir(p), filepath.Base(p), []byte(dg.String()+"\n")); err != nil {
		return fmt.Errorf("set tag %s: %w", name, err)
	}
	return nil
}

// putImmutable writes the content-addressed object at rel unless a regular
// file of the right size is there already, and reports whether it wrote.
func (d *Dir) putImmutable(rel string, data []byte) (bool, error) {
	p := d.path(rel)
	if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		return false, nil
	}
	dir := filepath.Dir(p)
	if err := mkdirDurable(dir); err != nil {
		return false, err
	}
	return true, writeAtomic(dir, filepath.Base(p), data)
}
