package fs

import (
	"context"
	"path"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/piecefs/piecefs/meta"
)

// rootNode is the root directory; adding it to a file system builds the
// rest of the tree.
type rootNode struct{ dirNode }

// NewRoot returns the root of a file system serving m, whose files are
// read through r. m must have passed meta.Manifest.Validate (meta.Decode
// does that). The tree is built when the root is added to a file system,
// by gofs.NewNodeFS or gofs.Mount; mount it with the options Mount uses,
// which give the root inode number 1.
func NewRoot(m *meta.Manifest, r FileReader, opts Options) gofs.InodeEmbedder {
	return &rootNode{dirNode{node{t: newTree(m, r, opts), i: 0}}}
}

var _ = (gofs.NodeOnAdder)((*rootNode)(nil))

// OnAdd builds the whole tree as persistent inodes. Entries come parents
// first, but a hardlink may name a target listed after it, so hardlinks
// are added once every inode exists.
func (r *rootNode) OnAdd(ctx context.Context) {
	m := r.t.m
	inodes := make([]*gofs.Inode, len(m.Entries))
	inodes[0] = r.EmbeddedInode()
	for i := 1; i < len(m.Entries); i++ {
		if m.Entries[i].Kind == meta.KindHardlink {
			continue
		}
		parent := inodes[r.parentOf(i)]
		attr := gofs.StableAttr{Mode: typeBits(m.Entries[i].Kind), Ino: uint64(i) + 1}
		inodes[i] = parent.NewPersistentInode(ctx, r.t.newNode(i), attr)
		r.addChild(parent, i, inodes[i])
	}
	for i := 1; i < len(m.Entries); i++ {
		if m.Entries[i].Kind == meta.KindHardlink {
			r.addChild(inodes[r.parentOf(i)], i, inodes[m.Inode(i)])
		}
	}
}

// parentOf returns the index of entry i's directory. Validate guarantees
// that it is listed, before i.
func (r *rootNode) parentOf(i int) int {
	p, _ := r.t.m.Lookup(path.Dir(r.t.m.Entries[i].Path))
	return p
}

func (r *rootNode) addChild(parent *gofs.Inode, i int, ch *gofs.Inode) {
	p := r.t.m.Entries[i].Path
	if !parent.AddChild(path.Base(p), ch, false) {
		// Validate refuses duplicate paths, so this is a bug, not bad input.
		r.t.log.WithField("path", p).Error("duplicate name in the tree; keeping the first")
	}
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
