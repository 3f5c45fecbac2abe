package fs

import (
	"context"
	"slices"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

var _ = (gofs.NodeGetxattrer)((*node)(nil))

// Getxattr copies the named attribute's value into dest. An empty dest
// asks for the size only; a dest too small for the value gives ERANGE.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, ok := n.entry().Xattrs[attr]
	if !ok {
		return 0, syscall.ENODATA
	}
	return fill(dest, v)
}

var _ = (gofs.NodeListxattrer)((*node)(nil))

// Listxattr copies the attribute names, sorted and each NUL-terminated,
// into dest, with the same size rules as Getxattr.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return fill(dest, xattrList(n.entry().Xattrs))
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
