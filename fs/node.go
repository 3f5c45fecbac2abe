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

var _ = (gofs.NodeOnAdder)((*node)(nil))

// OnAdd counts the inode go-fuse has made of the node (Options.Inodes).
func (n *node) OnAdd(ctx context.Context) { n.t.inodes.Add(1) }

var _ = (gofs.NodeOnForgetter)((*node)(nil))

// OnForget counts the inode go-fuse has dropped, the kernel having
// forgotten it.
func (n *node) OnForget() { n.t.inodes.Add(-1) }

// dirNode is a directory; see tree.go.
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
