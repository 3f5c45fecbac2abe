package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

const (
	blockSize = 4096 // st_blksize and the statfs block size
	dirSize   = 4096 // what ext4 reports for a small directory
)

var _ = (gofs.NodeGetattrer)((*node)(nil))

// Getattr reports the manifest's attributes of the inode. They cannot
// change while mounted, so the kernel may keep them for the cache timeout.
func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.t.fillAttr(n.i, &out.Attr)
	out.SetTimeout(n.t.timeout)
	return 0
}

// fillAttr sets a from entry i, which must not be a hardlink.
func (t *tree) fillAttr(i int, a *fuse.Attr) {
	e := &t.m.Entries[i]
	a.Ino = uint64(i) + 1
	a.Mode = typeBits(e.Kind) | e.Mode
	a.Size = attrSize(e)
	a.Blocks = (a.Size + 511) / 512
	a.Blksize = blockSize
	a.Nlink = t.m.Nlink(i)
	a.Owner = fuse.Owner{Uid: e.UID, Gid: e.GID}
	// FUSE carries rdev in the kernel's 32-bit encoding (12-bit major,
	// 20-bit minor), which is the low half of unix.Mkdev for every
	// device number Linux can represent.
	a.Rdev = uint32(unix.Mkdev(e.DevMajor, e.DevMinor))
	// The tree is immutable, so its inodes last changed when their content
	// did: ctime and atime are the mtime.
	mt := time.Unix(0, e.Mtime)
	a.SetTimes(&mt, &mt, &mt)
}

func attrSize(e *meta.Entry) uint64 {
	switch e.Kind {
	case meta.KindFile:
		return uint64(e.Size)
	case meta.KindSymlink:
		return uint64(len(e.Target))
	case meta.KindDir:
		return dirSize
	}
	return 0
}

var _ = (gofs.NodeStatfser)((*node)(nil))

// Statfs reports the tree's size and entry count, with nothing free, so
// that df shows a full, read-only file system.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	*out = n.t.statfs
	return 0
}

func statfsOf(m *meta.Manifest) fuse.StatfsOut {
	var bytes uint64
	for i := range m.Entries {
		if m.Entries[i].Kind == meta.KindFile {
			bytes += uint64(m.Entries[i].Size)
		}
	}
	return fuse.StatfsOut{
		Blocks:  (bytes + blockSize - 1) / blockSize,
		Files:   uint64(len(m.Entries)),
		Bsize:   blockSize,
		Frsize:  blockSize,
		NameLen: meta.MaxNameLen,
	}
}
