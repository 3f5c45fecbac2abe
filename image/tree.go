package image

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"

	"github.com/piecefs/piecefs/meta"
)

// OCI whiteouts (image-spec layer.md): ".wh.NAME" removes NAME of the
// lower layers, ".wh..wh..opq" hides every lower entry of its directory.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	opaqueName     = ".wh..wh..opq"
)

// inode is what a name of the flattened tree refers to. Hardlinks share
// one; a name removed by a later layer leaves the inode to its other names,
// as on the disk an unpacking tool writes.
type inode struct {
	e     meta.Entry // Path unset; the first name is chosen when the tree is emitted
	layer int        // the layer and tar entry holding a regular file's bytes
	seq   int
	name  string // the name the inode is emitted under, once chosen
}

// node is a name in the tree.
type node struct {
	ino      *inode
	children map[string]*node // directories only
}

// tree is the flattened image being computed from the layers' headers.
type tree struct {
	root       *node
	entries    int   // tar entries seen, whiteouts included
	metaBytes  int64 // bytes of names, targets and xattrs held
	maxEntries int
}

func newTree(maxEntries int) *tree {
	root := &node{ino: &inode{e: meta.Entry{Kind: meta.KindDir, Mode: 0o755}}, children: map[string]*node{}}
	return &tree{root: root, maxEntries: maxEntries}
}

// hdr is one tar entry of a layer, as the first pass keeps it until the
// layer is applied: what the tree needs of the tar header, not the header
// (a third of the size), since a layer may hold millions.
type hdr struct {
	seq  int
	path string     // cleaned, relative to the root
	typ  byte       // the tar type flag
	link string     // a hardlink's target, as the tar names it
	e    meta.Entry // the entry, for anything but a hardlink or a whiteout
}

// newHdr checks a tar header's name and keeps what the tree needs of it.
func newHdr(seq int, h *tar.Header) (hdr, error) {
	p, err := cleanPath(h.Name)
	if err != nil {
		return hdr{}, err
	}
	x := hdr{seq: seq, path: p, typ: h.Typeflag}
	switch {
	case h.Typeflag == tar.TypeLink:
		x.link = h.Linkname
	case !isWhiteout(p):
		x.e, err = entryOf(h)
	}
	return x, err
}

// count charges one tar entry against the bounds.
func (t *tree) count(h *tar.Header) error {
	t.entries++
	if t.entries > t.maxEntries {
		return fmt.Errorf("more than %d entries in the image's layers: refused (a tar bomb?)", t.maxEntries)
	}
	if len(h.Name) > meta.MaxPathLen || len(h.Linkname) > meta.MaxPathLen {
		return fmt.Errorf("%.64q…: a name or link target longer than %d bytes", h.Name, meta.MaxPathLen)
	}
	t.metaBytes += int64(len(h.Name) + len(h.Linkname))
	for k, v := range h.PAXRecords {
		t.metaBytes += int64(len(k) + len(v))
	}
	if t.metaBytes > meta.MaxManifestSize {
		return fmt.Errorf("more than %d bytes of names and attributes in the image's layers: refused", meta.MaxManifestSize)
	}
	return nil
}

// apply applies one layer's entries: its whiteouts first, which act on
// the lower layers only (image-spec: a whiteout never hides an entry of
// its own layer), then its entries in order, a later one of a name
// replacing an earlier.
func (t *tree) apply(layer int, hs []hdr) error {
	gone := map[string]bool{} // what this layer's whiteouts removed
	for _, h := range hs {
		if err := t.whiteout(h, gone); err != nil {
			return fmt.Errorf("%s: %w", short(h.path), err)
		}
	}
	for _, h := range hs {
		if isWhiteout(h.path) {
			continue
		}
		if err := t.add(layer, h); err != nil {
			return fmt.Errorf("%s: %w", short(h.path), err)
		}
	}
	return nil
}

func isWhiteout(p string) bool { return strings.HasPrefix(path.Base(p), whiteoutPrefix) }

// whiteout applies h if it is a whiteout. A whiteout of a name under one
// this layer's whiteouts removed already is redundant, not an error, so
// that their order in the layer does not matter.
func (t *tree) whiteout(h hdr, gone map[string]bool) error {
	dir, base := path.Split(h.path)
	switch {
	case !strings.HasPrefix(base, whiteoutPrefix):
		return nil
	case base == opaqueName:
		if d := t.lookup(path.Clean(dir)); d != nil && d.children != nil {
			d.children = map[string]*node{}
		}
		return nil
	case strings.HasPrefix(base, whiteoutMeta):
		return nil // other AUFS metadata: never shipped, means nothing here
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	target := path.Join(dir, name)
	d := t.lookup(path.Clean(dir))
	switch {
	case name == "." || name == "..":
		return fmt.Errorf("whiteout of %q", name)
	case d != nil && d.children != nil && d.children[name] != nil:
		delete(d.children, name)
		gone[target] = true
		return nil
	}
	for p := dir; p != "" && p != "."; p = path.Dir(p) {
		if p = path.Clean(p); gone[p] {
			return nil
		}
	}
	return fmt.Errorf("whiteout of %s, which no lower layer has", target)
}

// lookup returns the node at p, or nil.
func (t *tree) lookup(p string) *node {
	n := t.root
	if p == "." {
		return n
	}
	for c := range strings.SplitSeq(p, "/") {
		if n.children == nil {
			return nil
		}
		if n = n.children[c]; n == nil {
			return nil
		}
	}
	return n
}

// parent returns the directory holding p, creating missing directories as
// unpacking tools do (0755, root's); a parent that is not a directory (a
// symlink, say) is refused rather than followed.
func (t *tree) parent(p string) (*node, error) {
	n := t.root
	dir := path.Dir(p)
	if dir == "." {
		return n, nil
	}
	for c := range strings.SplitSeq(dir, "/") {
		next := n.children[c]
		if next == nil {
			next = &node{ino: &inode{e: meta.Entry{Kind: meta.KindDir, Mode: 0o755}}, children: map[string]*node{}}
			n.children[c] = next
		}
		if next.children == nil {
			return nil, fmt.Errorf("its parent %s is a %s, not a directory", c, next.ino.e.Kind)
		}
		n = next
	}
	return n, nil
}

// add applies one entry that is not a whiteout.
func (t *tree) add(layer int, h hdr) error {
	if h.path == "." {
		if h.typ != tar.TypeDir {
			return fmt.Errorf("the root is not a directory")
		}
		t.root.ino.e = h.e
		return nil
	}
	d, err := t.parent(h.path)
	if err != nil {
		return err
	}
	name := path.Base(h.path)
	if h.typ == tar.TypeLink {
		return t.link(d, name, h)
	}
	e := h.e
	old := d.children[name]
	if e.Kind == meta.KindDir && old != nil && old.children != nil {
		old.ino.e = e // a directory again: new attributes, its entries kept
		return nil
	}
	n := &node{ino: &inode{e: e, layer: layer, seq: h.seq}}
	if e.Kind == meta.KindDir {
		n.children = map[string]*node{}
	}
	d.children[name] = n
	return nil
}

// link adds a hardlink: a second name of the inode its target names now.
func (t *tree) link(d *node, name string, h hdr) error {
	target, err := cleanPath(h.link)
	if err != nil {
		return fmt.Errorf("hardlink target: %w", err)
	}
	tn := t.lookup(target)
	switch {
	case tn == nil:
		return fmt.Errorf("hardlink to %s, which does not exist (in this layer before it, or a lower one)", target)
	case tn.children != nil:
		return fmt.Errorf("hardlink to %s, a directory", target)
	}
	d.children[name] = &node{ino: tn.ino}
	return nil
}

// cleanPath returns a layer entry's name relative to the root, refusing
// names that are absolute or climb with "..".
func cleanPath(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute path %q", name)
	}
	for c := range strings.SplitSeq(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("path %q escapes the root", name)
		}
		if len(c) > meta.MaxNameLen {
			return "", fmt.Errorf("a name in %.64q… is longer than %d bytes", name, meta.MaxNameLen)
		}
	}
	if name == "" {
		return "", fmt.Errorf("empty name")
	}
	return path.Clean(name), nil
}
