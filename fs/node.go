package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/piecefs/piecefs/meta"
)

// node is one inode of the tree. Devices and fifos are plain nodes: the
// kernel serves their opens itself, so they need attributes only.
type node struct {
	gofs.Inode
	t *tree
	i int // index of the manifest entry that holds this inode's attributes
}

func (n *node) entry() *meta.Entry { return &n.t.m.Entries[n.i] }

// dirNode is a directory. Its children are the tree's persistent inodes,
// so go-fuse answers Lookup and Readdir from them without our help.
type dirNode struct{ node }

// fileNode is a regular file; see file.go.
type fileNode struct{ node }

// symlinkNode is a symbolic link.
type symlinkNode struct{ node }

var _ = (gofs.NodeReadlinker)((*symlinkNode)(nil))

// Readlink returns the link's target as the manifest records it.
func (s *symlinkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(s.entry().Target), 0
}

// typeBits returns the S_IF* bits of an inode of kind k.
func typeBits(k meta.Kind) uint32 {
	switch k {
	case meta.KindDir:
		return syscall.S_IFDIR
	case meta.KindFile:
		return syscall.S_IFREG
	case meta.KindSymlink:
		return syscall.S_IFLNK
	case meta.KindChar:
		return syscall.S_IFCHR
	case meta.KindBlock:
		return syscall.S_IFBLK
	case meta.KindFifo:
		return syscall.S_IFIFO
	}
	return 0 // a hardlink is never an inode of its own
}
