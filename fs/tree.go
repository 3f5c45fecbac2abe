package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/piecefs/piecefs/meta"
)

// NewRoot returns the root of a file system serving m, whose files are
// read through r. m must have passed meta.Manifest.Validate (meta.Decode
// does that). Mount it with the options Mount uses, which give the root
// inode number 1.
func NewRoot(m *meta.Manifest, r FileReader, opts Options) gofs.InodeEmbedder {
	return &dirNode{node{t: newTree(m, r, opts), i: 0}}
}

var _ = (gofs.NodeLookuper)((*dirNode)(nil))

// Lookup finds name in the directory through the manifest's tables and
// returns its inode: the one the kernel already knows if there is one,
// else a new node that go-fuse keeps only while the kernel does. The inode
// number of entry i is always i+1, and a hardlink's is its target's, so
// go-fuse, which keys the inodes it knows by number and type, hands out one
// Inode per manifest inode whichever name reaches it first.
func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	k, ok := d.t.m.Child(d.i, name)
	if !ok {
		return nil, syscall.ENOENT
	}
	i := d.t.m.Inode(k)
	d.t.fillAttr(i, &out.Attr)
	if ch := d.GetChild(name); ch != nil {
		return ch, 0
	}
	return d.NewInode(ctx, d.t.newNode(i), d.t.stableAttr(i)), 0
}

var _ = (gofs.NodeReaddirer)((*dirNode)(nil))

// Readdir lists the directory in manifest order, which is the order its
// publisher walked it in and so the order of the pieces its small files
// are packed into. The stream is read through the manifest's own table.
func (d *dirNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	return &dirStream{t: d.t, kids: d.t.m.Children(d.i)}, 0
}

// dirStream lists a directory's entries. Offsets are positions in the
// listing, so a seek is an assignment.
type dirStream struct {
	t    *tree
	kids []int32 // entry indices, in listing order
	next int     // index in kids of the entry Next returns
}

func (s *dirStream) HasNext() bool { return s.next < len(s.kids) }

func (s *dirStream) Next() (fuse.DirEntry, syscall.Errno) {
	k := int(s.kids[s.next])
	s.next++
	i := s.t.m.Inode(k)
	return fuse.DirEntry{
		Name: s.t.m.Entries[k].Name(),
		Ino:  uint64(i) + 1,
		Mode: typeBits(s.t.m.Entries[i].Kind),
		Off:  uint64(s.next),
	}, 0
}

func (s *dirStream) Close() {}

var _ = (gofs.FileSeekdirer)((*dirStream)(nil))

// Seekdir moves to offset off, as a telldir earlier returned it.
func (s *dirStream) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off > uint64(len(s.kids)) {
		return syscall.EINVAL
	}
	s.next = int(off)
	return 0
}

// stableAttr identifies the inode of entry i, which must not be a hardlink.
func (t *tree) stableAttr(i int) gofs.StableAttr {
	return gofs.StableAttr{Mode: typeBits(t.m.Entries[i].Kind), Ino: uint64(i) + 1}
}

// newNode returns the node for entry i, which must not be a hardlink.
func (t *tree) newNode(i int) gofs.InodeEmbedder {
	switch t.m.Entries[i].Kind {
	case meta.KindDir:
		return &dirNode{node{t: t, i: i}}
	case meta.KindFile:
		return &fileNode{node{t: t, i: i}}
	case meta.KindSymlink:
		return &symlinkNode{node{t: t, i: i}}
	}
	return &node{t: t, i: i}
}
