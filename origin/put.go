package origin

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

// PutPiece stores data as the piece with digest dg, which must be data's
// sha256. A piece already present and whole (its bytes hash to dg) is left
// alone and counted as skipped; a damaged one is rewritten and counted as
// repaired.
func (d *Dir) PutPiece(dg meta.Digest, data []byte) error {
	if got := meta.Sum(data); got != dg {
		return fmt.Errorf("put piece %s: the data's sha256 is %s", dg, got)
	}
	r, err := d.putImmutable(meta.PiecePath(dg), dg, data)
	if err != nil {
		return fmt.Errorf("put piece %s: %w", dg, err)
	}
	d.countPiece(r, len(data))
	return nil
}

// PutBlocks stores table as the block table with digest dg, which must be
// its sha256; like a piece, one already present is checked and rewritten if
// damaged.
func (d *Dir) PutBlocks(dg meta.Digest, table []byte) error {
	if got := meta.Sum(table); got != dg {
		return fmt.Errorf("put block table %s: the data's sha256 is %s", dg, got)
	}
	r, err := d.putImmutable(meta.BlocksPath(dg), dg, table)
	if err != nil {
		return fmt.Errorf("put block table %s: %w", dg, err)
	}
	d.countBlocks(r)
	return nil
}

// PutManifest stores an encoded manifest under its digest, which it
// returns. Like a piece, a manifest already present is checked against its
// digest and rewritten if damaged.
func (d *Dir) PutManifest(data []byte) (meta.Digest, error) {
	dg := meta.Sum(data)
	if len(data) > meta.MaxManifestSize {
		return dg, fmt.Errorf("put manifest %s: %d bytes is more than the limit of %d", dg, len(data), meta.MaxManifestSize)
	}
	r, err := d.putImmutable(meta.ManifestPath(dg), dg, data)
	if err != nil {
		return dg, fmt.Errorf("put manifest %s: %w", dg, err)
	}
	d.countManifest(r)
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

// putResult is what putImmutable did.
type putResult int

const (
	putSkipped  putResult = iota // present and whole: left alone
	putWritten                   // absent: written
	putRepaired                  // present but damaged: rewritten
)

// putImmutable writes the content-addressed object at rel, whose sha256 is
// dg, unless a regular file holding exactly those bytes is there already.
//
// The existing file is read and hashed, not trusted for its size: a disk
// or a hand that damaged it in place would otherwise leave it damaged for
// every publish to come. That costs one read of each existing object per
// publish, far less than the writes it saves.
func (d *Dir) putImmutable(rel string, dg meta.Digest, data []byte) (putResult, error) {
	p := d.path(rel)
	present, whole := holds(p, dg, int64(len(data)))
	if whole {
		return putSkipped, nil
	}
	dir := filepath.Dir(p)
	if err := mkdirDurable(dir); err != nil {
		return putWritten, err
	}
	if err := writeAtomic(dir, filepath.Base(p), data); err != nil {
		return putWritten, err
	}
	if present {
		return putRepaired, nil
	}
	return putWritten, nil
}

// holds reports whether something is at p, and whether it is a regular
// file of size bytes that hash to dg. Any doubt (it cannot be opened or
// read, it is a symlink or a fifo) counts as not whole: rewriting is always
// safe, since the rename replaces the name and never writes through it.
func holds(p string, dg meta.Digest, size int64) (present, whole bool) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist), false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return true, false
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return true, false
	}
	return true, meta.Digest(h.Sum(nil)) == dg
}
