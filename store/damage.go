package store

import (
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// damagedError says the database cannot be trusted: bbolt could not open
// it, its consistency check failed, or reading it panicked.
type damagedError struct{ err error }

func (e *damagedError) Error() string { return "damaged cache database: " + e.err.Error() }
func (e *damagedError) Unwrap() error { return e.err }

func damaged(format string, args ...any) error {
	return &damagedError{fmt.Errorf(format, args...)}
}

// load opens the database and reconciles the directory with it. A damaged
// database is moved aside and replaced by an empty one (see "Damage").
func (s *Store) load() error {
	name := filepath.Join(s.dir, DBName)
	st, err := os.Stat(name)
	fresh := err != nil || st.Size() == 0 // bbolt starts an empty file afresh
	err = s.loadFrom(name, fresh)
	var dmg *damagedError
	if !errors.As(err, &dmg) {
		return err
	}
	s.dropDamagedDB()
	aside, err := moveAside(name, s.now())
	if err != nil {
		return fmt.Errorf("%w; moving it aside failed: %w", dmg, err)
	}
	s.log.WithError(dmg.err).WithField("moved_to", aside).
		Error("cache database is damaged: moved it aside and started an empty one; cached pieces will be fetched again")
	return s.loadFrom(name, true)
}

// loadFrom opens the database name, checks it, and reconciles. It is the
// only code that reads bytes of a database nobody has checked yet, so a
// panic or a memory fault in it (bbolt trusts the page structure it maps)
// is taken for damage.
func (s *Store) loadFrom(name string, fresh bool) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged("reading %s panicked: %v", name, r)
		}
	}()
	if s.db, err = s.openDB(name); err != nil {
		return err
	}
	readAhead(name)
	if err := check(s.db); err != nil {
		return damaged("%s: %w", name, err)
	}
	if err := ensureBuckets(s.db); err != nil {
		return damaged("create buckets in %s: %w", name, err)
	}
	clean, err := closedCleanly(s.db)
	if err != nil {
		return damaged("%s: %w", name, err)
	}
	s.trusted, s.marked = clean && !fresh, clean && !fresh
	if s.trusted {
		s.log.Debug("cache directory was closed cleanly: its records are trusted without a scan")
	}
	if err := syncLayout(s.dir); err != nil {
		return fmt.Errorf("open cache directory %s: %w", s.dir, err)
	}
	if err := s.reconcile(fresh); err != nil {
		return fmt.Errorf("reconcile cache directory %s: %w", s.dir, err)
	}
	return s.shrinkToBound()
}

// openDB opens the database name, failing with ErrInUse if another process
// holds it for longer than the lock timeout.
func (s *Store) openDB(name string) (*bolt.DB, error) {
	// Options.NoSync stays false: completion records must be durable.
	db, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: s.opts.LockTimeout})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("cache directory %s is %w (its lock on %s was not free within %s)", s.dir, ErrInUse, name, s.opts.LockTimeout)
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS):
		return nil, unusable(s.dir, err) // not damage: moving it aside would not help
	default:
		return nil, damaged("open %s: %w", name, err)
	}
}

// check reports what is wrong with the page structure of db. It first reads
// every key and value on this goroutine, where a fault on a page beyond the
// end of a truncated file is a recoverable panic, so that tx.Check, which
// reads the same pages on a goroutine of its own, cannot crash the process.
func check(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		st, err := os.Stat(db.Path())
		if err != nil {
			return err
		}
		if st.Size() < tx.Size() {
			return fmt.Errorf("truncated: %d bytes, its pages need %d", st.Size(), tx.Size())
		}
		h := crc32.NewIEEE()
		if err := tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return readBucket(b, h) }); err != nil {
			return err
		}
		var errs []error
		for err := range tx.Check() { // drained to the end, so its goroutine ends
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// readBucket reads every key and value of b and its nested buckets into h.
func readBucket(b *bolt.Bucket, h hash.Hash) error {
	return b.ForEach(func(k, v []byte) error {
		_, _ = h.Write(k) // a hash.Hash never fails
		_, _ = h.Write(v)
		if v != nil {
			return nil
		}
		if nested := b.Bucket(k); nested != nil {
			return readBucket(nested, h)
		}
		return nil
	})
}

// dropDamagedDB closes the damaged database, if bbolt got as far as opening
// it. If bbolt panicked inside Open, its file stays open until the process
// ends; the file is moved aside, so the lock it holds is not in the way.
func (s *Store) dropDamagedDB() {
	if s.db == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.WithField("panic", r).Warn("closing the damaged cache database panicked")
		}
	}()
	db := s.db
	s.db = nil
	if err := db.Close(); err != nil {
		s.log.WithError(err).Warn("close the damaged cache database")
	}
}

// moveAside renames the file name to name.corrupt-<now>, or with a further
// suffix if that exists, and returns the new name.
func moveAside(name string, now int64) (string, error) {
	aside := fmt.Sprintf("%s.corrupt-%d", name, now)
	for i := 1; fileExists(aside); i++ {
		aside = fmt.Sprintf("%s.corrupt-%d-%d", name, now, i)
	}
	if err := os.Rename(name, aside); err != nil {
		return "", err
	}
	return aside, nil
}

func fileExists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

// logFresh warns that a database was started empty while piece files were
// there: they have just been removed and will be fetched again.
func (s *Store) logFresh(kind string, removed int) {
	s.log.WithFields(logrus.Fields{"kind": kind, "files_removed": removed}).
		Warn("cache database was missing or damaged: removed the piece files it did not record; they will be fetched again")
}

// readAhead reads the database file name once, in file order, so that it
// is in the page cache before check reads every page of it through
// bbolt's memory map, which bbolt advises MADV_RANDOM: the map's faults
// would read it one 4 KiB page at a time, in the order of the B+tree.
// With a cold page cache, Open of the 40 MB database of 25,600 pieces took
// 111 ms with this read against 468 ms without; asking the kernel to read
// ahead instead was slower (posix_fadvise WILLNEED 373 ms, readahead(2)
// 390–422 ms). An error costs only the time the read would have saved.
func readAhead(name string) {
	f, err := os.Open(name)
	if err != nil {
		return
	}
	defer f.Close() // read-only: Close has nothing to report
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Read(buf); err != nil {
			return
		}
	}
}
