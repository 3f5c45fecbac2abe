package fs

import (
	"context"
	"slices"
	"strconv"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/piecefs/piecefs/meta"
)

// The attributes piecefs adds to those the manifest publishes. A published
// attribute of the same name wins: it is served and listed, ours is not.
const (
	xattrCached  = "user.piecefs.cached"  // regular files: bytes cached, in decimal
	xattrPinned  = "user.piecefs.pinned"  // regular files: "1" or "0"
	xattrDigest  = "user.piecefs.digest"  // the root: the manifest's digest
	xattrControl = "user.piecefs.control" // the root: the mount's control socket
)

// xattr is an attribute piecefs adds. Its value is computed on each call:
// the kernel keeps no extended attributes of a FUSE file system, so every
// getxattr(2) reaches Getxattr and a value never goes stale.
type xattr struct {
	name  string
	value func(e *meta.Entry) []byte
}

// rootXattrs returns the root's attributes, in listing order.
func rootXattrs(opts Options) []xattr {
	var x []xattr
	for _, a := range []struct{ name, v string }{{xattrDigest, opts.Digest}, {xattrControl, opts.Control}} {
		if v := []byte(a.v); len(v) > 0 {
			x = append(x, xattr{a.name, func(*meta.Entry) []byte { return v }})
		}
	}
	return x
}

// fileXattrs returns a regular file's attributes, in listing order: none
// without info.
func fileXattrs(info CacheInfo) []xattr {
	if info == nil {
		return nil
	}
	return []xattr{
		{xattrCached, func(e *meta.Entry) []byte { return strconv.AppendInt(nil, info.Cached(e), 10) }},
		{xattrPinned, func(e *meta.Entry) []byte {
			if info.Pinned(e) {
				return []byte("1")
			}
			return []byte("0")
		}},
	}
}

// ours returns the attributes piecefs adds to entry i, which must not be a
// hardlink: the root's, or a regular file's; other entries have none.
func (t *tree) ours(i int) []xattr {
	switch {
	case i == 0:
		return t.root
	case t.m.Entries[i].Kind == meta.KindFile:
		return t.file
	}
	return nil
}

var _ = (gofs.NodeGetxattrer)((*node)(nil))

// Getxattr copies the named attribute's value into dest: the published
// one, else ours. An empty dest asks for the size only; a dest too small
// for the value gives ERANGE.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	e := n.entry()
	if v, ok := e.Xattrs[attr]; ok {
		return fill(dest, v)
	}
	for _, x := range n.t.ours(n.i) {
		if x.name == attr {
			return fill(dest, x.value(e))
		}
	}
	return 0, syscall.ENODATA
}

var _ = (gofs.NodeListxattrer)((*node)(nil))

// Listxattr copies the attribute names, each NUL-terminated, into dest,
// with the same size rules as Getxattr: the published names, sorted, then
// ours that no published name hides.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	e := n.entry()
	b := xattrList(e.Xattrs)
	for _, x := range n.t.ours(n.i) {
		if _, ok := e.Xattrs[x.name]; !ok {
			b = append(append(b, x.name...), 0)
		}
	}
	return fill(dest, b)
}

func xattrList(x map[string][]byte) []byte {
	names := make([]string, 0, len(x))
	for k := range x {
		names = append(names, k)
	}
	slices.Sort(names)
	var b []byte
	for _, k := range names {
		b = append(append(b, k...), 0)
	}
	return b
}

// fill answers an xattr call the way getxattr(2) and listxattr(2) do.
func fill(dest, v []byte) (uint32, syscall.Errno) {
	switch {
	case len(dest) == 0:
		return uint32(len(v)), 0
	case len(dest) < len(v):
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}
