package main

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/piecefs/piecefs/internal/harness"
)

// ceilingFlag, as the first argument, makes this binary the child that
// serves the FUSE ceiling: ceilingFlag MOUNTPOINT SIZE [TREE], a file of
// SIZE random bytes and, if TREE is given, a copy of that directory held
// in memory under its base name. It is not a registered flag, so -help
// does not list it.
const ceilingFlag = "-ceiling-child"

// ceilingName is the memory-backed file in the ceiling mount.
const ceilingName = "mem.bin"

// childMain runs the ceiling child when args ask for it.
func childMain(args []string) (code int, ok bool) {
	if len(args) == 0 || args[0] != ceilingFlag {
		return 0, false
	}
	if err := serveCeiling(args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench ceiling child:", err)
		return 1, true
	}
	return 0, true
}

// serveCeiling mounts the ceiling file (and tree) with piecefs's mount
// options, prints "mounted", and serves until SIGTERM or SIGINT.
func serveCeiling(args []string) error {
	if len(args) != 2 && len(args) != 3 {
		return fmt.Errorf("want MOUNTPOINT SIZE [TREE], got %q", args)
	}
	size, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return err
	}
	// Random bytes, so that every page is really allocated and copied.
	data := make([]byte, size)
	_, _ = rand.NewChaCha8(seed("ceiling")).Read(data) // never fails
	root := &memNode{mode: fs.ModeDir | 0o755, kids: []*memNode{{name: ceilingName, mode: 0o444, data: data}}}
	if len(args) == 3 {
		tree, err := loadTree(args[2])
		if err != nil {
			return err
		}
		root.kids = append(root.kids, tree)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	srv, err := gofs.Mount(args[0], &ceilingRoot{tree: root}, ceilingOptions())
	if err != nil {
		return err
	}
	fmt.Println("mounted")
	<-sigs
	return srv.Unmount()
}

// ceilingOptions are the mount options of piecefs's fs package: read-only,
// 1 MiB reads and readahead, replies written without splice, a direct
// mount, long cache timeouts, cached symlinks, permissions checked by the
// kernel.
func ceilingOptions() *gofs.Options {
	timeout := time.Hour
	return &gofs.Options{
		MountOptions: fuse.MountOptions{
			Options:              []string{"ro", "nosuid", "nodev", "default_permissions"},
			FsName:               "piecefs-bench-ceiling",
			Name:                 "piecefs-bench-ceiling",
			DirectMount:          true,
			DirectMountFlags:     syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV,
			MaxWrite:             1 << 20,
			MaxReadAhead:         1 << 20,
			DisableSplice:        true,
			EnableSymlinkCaching: true,
		},
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		NullPermissions: true,
		RootStableAttr:  &gofs.StableAttr{Ino: 1},
	}
}

// memNode is an entry of the ceiling's tree, held in memory: a directory
// (kids), a regular file (data) or a symlink (target).
type memNode struct {
	name   string
	mode   fs.FileMode
	data   []byte
	target string
	kids   []*memNode
}

// loadTree reads the directory dir, recursively, into memory.
func loadTree(dir string) (*memNode, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	n := &memNode{name: filepath.Base(dir), mode: fi.Mode()}
	switch {
	case fi.IsDir():
		des, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			k, err := loadTree(filepath.Join(dir, de.Name()))
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, k)
		}
	case fi.Mode().IsRegular():
		n.data, err = os.ReadFile(dir)
	case fi.Mode()&fs.ModeSymlink != 0:
		n.target, err = os.Readlink(dir)
	default:
		err = fmt.Errorf("%s: neither a directory, a regular file nor a symlink", dir)
	}
	return n, err
}

// ceilingRoot is the root of the ceiling mount: its tree, added as
// persistent inodes, which go-fuse answers lookups and listings of from
// memory.
type ceilingRoot struct {
	gofs.Inode
	tree *memNode
}

var _ = (gofs.NodeOnAdder)((*ceilingRoot)(nil))

func (r *ceilingRoot) OnAdd(ctx context.Context) {
	ino := uint64(1)
	r.tree.addKids(ctx, &r.Inode, &ino)
}

// addKids adds n's entries under parent, numbering inodes after *ino.
func (n *memNode) addKids(ctx context.Context, parent *gofs.Inode, ino *uint64) {
	for _, k := range n.kids {
		*ino++
		attr := fuse.Attr{Mode: uint32(k.mode.Perm()), Size: uint64(len(k.data))}
		var node gofs.InodeEmbedder
		var mode uint32
		switch {
		case k.mode.IsDir():
			node, mode = &memDir{attr: attr}, syscall.S_IFDIR
		case k.mode&fs.ModeSymlink != 0:
			node, mode = &gofs.MemSymlink{Data: []byte(k.target), Attr: attr}, syscall.S_IFLNK
		default:
			node, mode = &memFile{data: k.data, attr: attr}, syscall.S_IFREG
		}
		child := parent.NewPersistentInode(ctx, node, gofs.StableAttr{Mode: mode, Ino: *ino})
		parent.AddChild(k.name, child, false)
		k.addKids(ctx, child, ino)
	}
}

// memDir is a directory of the ceiling's tree; go-fuse lists and looks up
// its persistent children itself.
type memDir struct {
	gofs.Inode
	attr fuse.Attr
}

var _ = (gofs.NodeGetattrer)((*memDir)(nil))

func (d *memDir) Getattr(_ context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Attr = d.attr
	return 0
}

// memFile is a file of the ceiling: it is opened and closed as piecefs's
// files are, without a round trip (ENOSYS to the first open and flush:
// FUSE_NO_OPEN_SUPPORT, no_flush), and answers a read with a slice of its
// bytes (fuse.ReadResultData): no I/O, no copy besides the kernel's.
type memFile struct {
	gofs.Inode
	data []byte
	attr fuse.Attr
}

var (
	_ = (gofs.NodeGetattrer)((*memFile)(nil))
	_ = (gofs.NodeOpener)((*memFile)(nil))
	_ = (gofs.NodeReader)((*memFile)(nil))
)

func (f *memFile) Getattr(_ context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Attr = f.attr
	return 0
}

func (f *memFile) Open(context.Context, uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return nil, 0, syscall.ENOSYS
}

func (f *memFile) Flush(context.Context, gofs.FileHandle) syscall.Errno {
	return syscall.ENOSYS
}

func (f *memFile) Read(_ context.Context, _ gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(f.data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(f.data[off:min(off+int64(len(dest)), int64(len(f.data)))]), 0
}

// startCeiling mounts the ceiling file of size bytes, and a copy of tree
// unless it is "", in a child process.
func (b *bench) startCeiling(ctx context.Context, size int64, tree string) (*mount, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	mnt := filepath.Join(b.tmp, "mnt-ceiling")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, err
	}
	args := []string{ceilingFlag, mnt, strconv.FormatInt(size, 10)}
	if tree != "" {
		args = append(args, tree)
	}
	p, err := harness.Start(harness.Command{Path: exe, Args: args})
	if err != nil {
		return nil, err
	}
	m := b.track(&mount{Mount: &harness.Mount{Process: p, Dir: mnt}, strict: true})
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	l, err := p.NextLine(ctx)
	if err == nil && l.Text != "mounted" {
		err = fmt.Errorf("printed %q, want %q", l.Text, "mounted")
	}
	if err != nil {
		_ = m.stop() // the error at hand says more
		return nil, fmt.Errorf("ceiling child: %w", err)
	}
	m.Ready = l.At
	return m, nil
}
