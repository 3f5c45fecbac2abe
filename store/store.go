package store

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// Defaults for zero Options fields.
const (
	// DefaultOpenFiles is the default bound on cached open piece files.
	DefaultOpenFiles = 128
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

	// faultHook, if set, runs before each durability step ("write",
	// "fsync", "rename", "dirsync", "commit"); an error fails the step.
	// Tests use it to put failures and crash snapshots between the steps.
	faultHook func(step string) error
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
	return o
}

// Store is an open cache directory. See the package documentation for its
// layout and guarantees.
type Store struct {
	dir   string
	opts  Options
	log   logrus.FieldLogger
	db    *bolt.DB
	files *fileCache

	mu       sync.RWMutex // guards complete
	complete map[meta.Digest]int64

	writingMu sync.Mutex // guards writing
	writing   map[meta.Digest]bool

	// stripes serialize, per piece, a commit's install-and-record with a
	// drop of the same piece, so a drop never deletes a fresh commit. They
	// are striped rather than global so that concurrent commits of
	// different pieces still share one bbolt batch.
	stripes [256]sync.Mutex

	dirsMu    sync.Mutex // guards dirsReady
	dirsReady [256]bool  // fan-out directories known to exist durably, by first digest byte

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating it if needed) the cache directory dir, takes its
// lock, and reconciles it with its database (see "Crash safety").
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	db, err := openDB(dir, opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	s := &Store{
		dir:      dir,
		opts:     opts,
		log:      opts.Log.WithField("cache_dir", dir),
		db:       db,
		complete: make(map[meta.Digest]int64),
		writing:  make(map[meta.Digest]bool),
	}
	s.files = newFileCache(opts.OpenFiles, s.piecePath)
	if err := s.init(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

func (s *Store) init() error {
	if err := makeLayout(s.dir); err != nil {
		return fmt.Errorf("open cache directory %s: %w", s.dir, err)
	}
	if err := s.reconcile(); err != nil {
		return fmt.Errorf("reconcile cache directory %s: %w", s.dir, err)
	}
	return nil
}

// Dir returns the cache directory.
func (s *Store) Dir() string { return s.dir }

// Has reports whether the piece with digest d is complete on disk.
func (s *Store) Has(d meta.Digest) bool {
	_, ok := s.size(d)
	return ok
}

func (s *Store) size(d meta.Digest) (int64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.complete[d]
	return n, ok
}

func (s *Store) remember(d meta.Digest, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.complete[d] = size
}

func (s *Store) forget(d meta.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.complete, d)
}

func (s *Store) stripe(d meta.Digest) *sync.Mutex { return &s.stripes[d[0]] }

// Close closes the open piece files, waiting for reads in progress to finish
// with them, and then the database. Writers still open fail to commit.
// Close is idempotent; later calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.files.close()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close cache database in %s: %w", s.dir, err)
		}
	})
	return s.closeErr
}
