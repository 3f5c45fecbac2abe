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
}

func newTree(m *meta.Manifest, r FileReader, opts Options) *tree {
	opts = opts.withDefaults()
	t := &tree{m: m, r: r, log: opts.Log, timeout: opts.CacheTimeout, statfs: statfsOf(m), inodes: opts.Inodes}
	if t.inodes == nil {
		t.inodes = new(atomic.Int64)
	}
	return t
}
