package image

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/publish"
)

var _ publish.Source = (*Image)(nil)

// Entries flattens the image's layers and hands the tree to add, as a
// publish.Source: a first pass reads the layers' headers and computes the
// tree, a second streams the surviving files' bytes. doc.go states the
// order and what is refused.
func (im *Image) Entries(ctx context.Context, add publish.AddFunc) error {
	t, err := im.flatten(ctx)
	if err != nil {
		return err
	}
	em := emitter{add: add, files: make([][]*inode, len(im.layers))}
	root := t.root.ino
	root.name = "."
	if err := em.entry(root); err != nil {
		return err
	}
	if err := em.walk(t.root, "."); err != nil {
		return err
	}
	if err := im.contents(ctx, em); err != nil {
		return err
	}
	for _, l := range em.links {
		if err := add(l, nil); err != nil {
			return err
		}
	}
	return nil
}

// flatten is the first pass: every layer's headers, applied in order.
func (im *Image) flatten(ctx context.Context) (*tree, error) {
	t := newTree(im.maxEntries)
	for i := range im.layers {
		l := &im.layers[i]
		var hs []hdr
		err := l.each(ctx, func(seq int, h *tar.Header, _ io.Reader) error {
			if err := t.count(h); err != nil {
				return err
			}
			x, err := newHdr(seq, h)
			hs = append(hs, x)
			return err
		})
		if err != nil {
			return nil, err
		}
		if err := t.apply(i, hs); err != nil {
			return nil, fmt.Errorf("%s: %w", l.what, err)
		}
	}
	return t, nil
}

// emitter hands the tree to add: directories, symlinks, devices and fifos
// as the walk meets them, files later with their bytes (files, per layer),
// hardlinks last (links).
type emitter struct {
	add   publish.AddFunc
	files [][]*inode
	links []meta.Entry
}

func (em *emitter) entry(ino *inode) error {
	e := ino.e
	e.Path = ino.name
	return em.add(e, nil)
}

// walk visits the tree in name order: the first name of an inode carries
// it, later ones become hardlinks to it.
func (em *emitter) walk(d *node, dir string) error {
	for _, name := range slices.Sorted(maps.Keys(d.children)) {
		n, p := d.children[name], path.Join(dir, name)
		if n.ino.name != "" {
			em.links = append(em.links, meta.Entry{Path: p, Kind: meta.KindHardlink, Target: n.ino.name})
			continue
		}
		n.ino.name = p
		if n.ino.e.Kind == meta.KindFile {
			em.files[n.ino.layer] = append(em.files[n.ino.layer], n.ino)
			continue
		}
		if err := em.entry(n.ino); err != nil {
			return err
		}
		if n.children != nil {
			if err := em.walk(n, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// contents is the second pass: each layer holding surviving files is read
// again and their bytes streamed to add, in the layer's order.
func (im *Image) contents(ctx context.Context, em emitter) error {
	for i, files := range em.files {
		if len(files) == 0 {
			continue
		}
		slices.SortFunc(files, func(a, b *inode) int { return a.seq - b.seq })
		err := im.layers[i].each(ctx, func(seq int, h *tar.Header, r io.Reader) error {
			if len(files) == 0 || files[0].seq != seq {
				return nil
			}
			ino := files[0]
			files = files[1:]
			if h.Size != ino.e.Size {
				return fmt.Errorf("%d bytes, %d when first read: the layer changed while importing", h.Size, ino.e.Size)
			}
			e := ino.e
			e.Path = ino.name
			return em.add(e, r)
		})
		if err != nil {
			return err
		}
		if len(files) != 0 {
			return fmt.Errorf("%s: %s missing when read again: the layer changed while importing", im.layers[i].what, files[0].name)
		}
	}
	return nil
}
