package fs

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"github.com/piecefs/piecefs/meta"
)

// FileReader reads a regular file's bytes; the tier chain (package piece)
// implements it. ReadAt fills p with the bytes of e at off, which the caller
// has already clamped to the file's size, and returns len(p) unless it
// fails. It must honour ctx: the kernel cancels it when the reading process
// is interrupted.
type FileReader interface {
	ReadAt(ctx context.Context, e *meta.Entry, p []byte, off int64) (int, error)
}

// CacheInfo tells what of a regular file the mount holds; the CLI
// implements it over the disk tier. Its methods are called on every read of
// the attributes they back (see xattr.go), so they must be cheap: no I/O,
// no fetching. e is the file's entry in the mounted manifest.
type CacheInfo interface {
	// Cached returns how many bytes of the file are cached.
	Cached(e *meta.Entry) int64
	// Pinned reports whether every byte of the file is kept out of
	// eviction.
	Pinned(e *meta.Entry) bool
}

// DefaultCacheTimeout is the entry, attribute and negative-lookup timeout
// when Options.CacheTimeout is zero.
const DefaultCacheTimeout = time.Hour

// Options configures a mount.
type Options struct {
	// Log receives errors from reads and go-fuse diagnostics; nil discards.
	Log logrus.FieldLogger
	// AllowOther lets users other than the mounting one see the tree.
	AllowOther bool
	// CacheTimeout is how long the kernel may keep entries, attributes and
	// failed lookups. The content of a mount is fixed by the manifest's
	// digest, so a long timeout is safe; zero means DefaultCacheTimeout and
	// a negative value turns this caching off.
	CacheTimeout time.Duration
	// Debug logs every FUSE request and reply (go-fuse request tracing).
	Debug bool
	// Inodes, if set, is kept at the number of inodes go-fuse holds for
	// the kernel, each costing about InodeBytes: the memory a mount uses
	// beyond its manifest. It counts one too many, for good, each time a
	// lookup of a name makes a node for an inode go-fuse already holds
	// under another name (a hardlink): go-fuse discards that node without
	// a word. So it may drift up, but never past the number of entries.
	Inodes *atomic.Int64
	// Info backs the user.piecefs.cached and user.piecefs.pinned
	// attributes of regular files; nil leaves them out.
	Info CacheInfo
	// Digest is the mounted manifest's digest ("sha256:<hex>"), the value
	// of the root's user.piecefs.digest; empty leaves it out.
	Digest string
	// Control is the path of the running mount's control socket, the
	// value of the root's user.piecefs.control, by which commands given a
	// path inside the mount find the mount; empty leaves it out.
	Control string
}

// InodeBytes is about what each inode the kernel holds costs on the heap:
// go-fuse's Inode inside our node, its rows in go-fuse's node tables, and
// its name in its parent's children. It is ~400 bytes with go-fuse
// v2.12; TestHeapPerInode keeps it honest.
const InodeBytes = 512

func (o Options) withDefaults() Options {
	if o.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		o.Log = l
	}
	switch {
	case o.CacheTimeout == 0:
		o.CacheTimeout = DefaultCacheTimeout
	case o.CacheTimeout < 0:
		o.CacheTimeout = 0
	}
	return o
}

// tree is what every node of one mount shares. It is never modified after
// NewRoot, so nodes read it without locking.
type tree struct {
	m       *meta.Manifest
	r       FileReader
	log     logrus.FieldLogger
	timeout time.Duration
	statfs  fuse.StatfsOut
	inodes  *atomic.Int64 // see Options.Inodes
	root    []xattr       // the attributes piecefs adds to the root (xattr.go)
	file    []xattr       // and to every regular file
}

func newTree(m *meta.Manifest, r FileReader, opts Options) *tree {
	opts = opts.withDefaults()
	t := &tree{m: m, r: r, log: opts.Log, timeout: opts.CacheTimeout, statfs: statfsOf(m), inodes: opts.Inodes,
		root: rootXattrs(opts), file: fileXattrs(opts.Info)}
	if t.inodes == nil {
		t.inodes = new(atomic.Int64)
	}
	return t
}
