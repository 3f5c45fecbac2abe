package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/singleflight"

	"github.com/piecefs/piecefs/meta"
)

// Defaults for zero Options fields.
const (
	// DefaultOpenFiles is the default bound on cached open piece files:
	// 4 GiB of 4 MiB pieces. A random reader of a file larger than the
	// bound opens a file on most reads, and after the kernel has dropped
	// its inodes an open costs a disk read of its own (80 µs measured,
	// beside 150–270 µs for the 64 KiB block read). Go raises the soft
	// file limit to the hard one at start, so 1,024 leaves room on any
	// usual system.
	DefaultOpenFiles = 1024
	// DefaultLockTimeout is how long Open waits by default for another
	// process to release the cache directory.
	DefaultLockTimeout = time.Second
)

// ErrInUse is wrapped by the error of Open when another process is using
// the cache directory.
var ErrInUse = errors.New("in use by another piecefs process")

// ErrBusy is wrapped by the error of Create (and Put) when another Writer
// for the same piece is open.
var ErrBusy = errors.New("piece is being written by another writer")

// Options configure a Store. The zero value is usable.
type Options struct {
	// Log receives the reconcile summary and problems worth a warning;
	// nil discards.
	Log logrus.FieldLogger
	// OpenFiles bounds the number of piece files kept open between reads;
	// 0 means DefaultOpenFiles.
	OpenFiles int
	// LockTimeout is how long Open waits for the lock on the database
	// before failing with ErrInUse; 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// MaxBytes bounds the total size of the complete pieces and the
	// recorded blocks of partial ones (see "Disk bound"), pinned pieces
	// included, which are never evicted (see "Pins"); 0 means unbounded.
	// Manifests do not count.
	MaxBytes int64

	// faultHook, if set, runs before each durability step (see
	// durable.go); an error fails the step. Tests use it to put failures
	// and crash snapshots between the steps.
	faultHook func(step string) error
	// readHook, if set, runs while ReadAt or Load holds its pin on d.
	readHook func(d meta.Digest)
	// openHook, if set, runs after a piece file is opened for a read and
	// before the open-file cache takes it.
	openHook func(d meta.Digest)
	// clock, if set, replaces time.Now for access times.
	clock func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	if o.OpenFiles <= 0 {
		o.OpenFiles = DefaultOpenFiles
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.MaxBytes < 0 {
		o.MaxBytes = 0
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	return o
}

// Store is an open cache directory. See the package documentation for its
// layout and guarantees.
type Store struct {
	dir   string
	opts  Options
	log   logrus.FieldLogger
	db    *bolt.DB
	group group    // shares the transactions of concurrent commits
	lock  *os.File // holds the lock on LockName until Close
	files *fileCache

	openDrops []DroppedError // piece records dropped by the reconcile at Open; set once

	reserveMu sync.Mutex // serialises reserve, so that victims' files go before new ones come
	pinMu     sync.Mutex // serialises Pin and Unpin, from their budget check to their install in index.pins

	mu     sync.RWMutex // guards index (and the fields of its pieces) and closed
	index  *index
	closed bool           // set when Close begins; no operation starts afterwards
	ops    sync.WaitGroup // one count per operation in progress; Close waits for zero

	verifying   singleflight.Group       // first reads' loads (or hashes) of block checksums, keyed by digest
	pendingSums map[meta.Digest][]uint32 // guarded by mu: checksums for bucket blocks, written by flush

	writingMu sync.Mutex // guards writing
	writing   map[meta.Digest]bool

	// stripes serialize, per piece, a commit's install-and-record with a
	// drop or eviction of the same piece, so that neither deletes a fresh
	// commit. They are striped rather than global so that concurrent
	// commits of different pieces still share one bbolt batch. Whoever
	// holds more than one (eviction) takes them in ascending order.
	stripes [256]sync.Mutex

	dirsMu    sync.Mutex // guards dirsReady
	dirsReady [256]bool  // fan-out directories known to exist durably, by first digest byte

	flusher *flusher // writes access times in the background

	// trusted says this Open found the directory closed cleanly and read
	// its records without scanning it (see "Clean close"); set once.
	trusted  bool
	unmarkMu sync.Mutex  // serialises beforeWrite
	marked   bool        // guarded by unmarkMu: the clean-close mark may still hold
	leftover atomic.Bool // a file the store meant to remove may be left

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating it if needed) the cache directory dir, takes its
// lock, repairs what damage it finds (see "Damage"), reconciles it with its
// database (see "Crash safety") and evicts down to Options.MaxBytes. On
// failure nothing stays open.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	s := &Store{
		dir:         dir,
		opts:        opts,
		log:         opts.Log.WithField("cache_dir", dir),
		index:       newIndex(),
		writing:     make(map[meta.Digest]bool),
		pendingSums: make(map[meta.Digest][]uint32),
	}
	s.files = newFileCache(opts.OpenFiles, s.pathOf, s.isCurrent)
	s.files.opened = opts.openHook
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir, opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.load(); err != nil {
		return nil, errors.Join(err, s.closeDB(), s.unlock())
	}
	s.flusher = s.startFlusher(atimeInterval)
	return s, nil
}

// Dir returns the cache directory.
func (s *Store) Dir() string { return s.dir }

// Has reports whether the piece with digest d is complete on disk. It
// reports false after Close.
func (s *Store) Has(d meta.Digest) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.index.get(d)
	return ok && !s.closed
}

// has is Has for the store's own use while an operation is registered,
// when Close may have begun but waits.
func (s *Store) has(d meta.Digest) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.index.get(d)
	return ok
}

// isCurrent reports whether p is the index's record of its digest: a record
// that was dropped, evicted or (if partial) completed is not, even if the
// digest was committed again since.
func (s *Store) isCurrent(p *piece) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index.current(p)
}

// Bytes returns the bytes the disk bound counts: the total size of the
// complete pieces and of the recorded blocks of the partial ones.
func (s *Store) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index.used
}

func (s *Store) now() int64 { return s.opts.clock().Unix() }

func (s *Store) stripe(d meta.Digest) *sync.Mutex { return &s.stripes[d[0]] }

// commitRecords runs fn, which must be idempotent, in a transaction shared
// with the commits running at the same time (see group).
func (s *Store) commitRecords(fn func(*bolt.Tx) error) error { return s.group.commit(s.db, fn) }

// Close waits for the operations in progress, writes the access times and
// checksums not yet written, and closes the open piece files and the
// database. Every method called afterwards fails with an error wrapping
// ErrClosed (Has reports false); Writers and Parts still open fail to
// commit, and the blocks those Parts wrote are lost. Close is idempotent;
// later calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.beginClose()
		s.flusher.stop()
		s.flushMarking(s.quiescent())
		s.files.close()
		s.closeErr = errors.Join(s.closeDB(), s.unlock())
	})
	return s.closeErr
}

// unlock releases the cache directory, once the database is closed.
func (s *Store) unlock() error {
	if err := s.lock.Close(); err != nil {
		return fmt.Errorf("release the lock of cache directory %s: %w", s.dir, err)
	}
	return nil
}

func (s *Store) closeDB() error {
	if s.db == nil {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close cache database in %s: %w", s.dir, err)
	}
	return nil
}
