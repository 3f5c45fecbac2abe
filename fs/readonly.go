package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The mount is read-only in the kernel, which refuses these operations
// before they reach us. They are refused here too so that the tree stays
// read-only on any mount path, and with the right errno (go-fuse's
// defaults are ENOTSUP, or success for Unlink and Rmdir).

var _ = (gofs.NodeSetattrer)((*node)(nil))

// Setattr refuses chmod, chown, truncate and utimes.
func (n *node) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

var _ = (gofs.NodeSetxattrer)((*node)(nil))

// Setxattr refuses to set an extended attribute.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.EROFS
}

var _ = (gofs.NodeRemovexattrer)((*node)(nil))

// Removexattr refuses to remove an extended attribute.
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.EROFS
}

var _ = (gofs.NodeCreater)((*dirNode)(nil))

// Create refuses to create a file.
func (d *dirNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

var _ = (gofs.NodeTmpfiler)((*dirNode)(nil))

// Tmpfile refuses O_TMPFILE.
func (d *dirNode) Tmpfile(ctx context.Context, flags, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

var _ = (gofs.NodeMkdirer)((*dirNode)(nil))

// Mkdir refuses to create a directory.
func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

var _ = (gofs.NodeMknoder)((*dirNode)(nil))

// Mknod refuses to create a device or fifo.
func (d *dirNode) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

var _ = (gofs.NodeLinker)((*dirNode)(nil))

// Link refuses to add a hardlink.
func (d *dirNode) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

var _ = (gofs.NodeSymlinker)((*dirNode)(nil))

// Symlink refuses to create a symbolic link.
func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

var _ = (gofs.NodeUnlinker)((*dirNode)(nil))

// Unlink refuses to remove a name.
func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	return syscall.EROFS
}

var _ = (gofs.NodeRmdirer)((*dirNode)(nil))

// Rmdir refuses to remove a directory.
func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return syscall.EROFS
}

var _ = (gofs.NodeRenamer)((*dirNode)(nil))

// Rename refuses to move a name.
func (d *dirNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}
