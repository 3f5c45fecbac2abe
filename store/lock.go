package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockName is the lock file in the cache directory. It is created once and
// never renamed or removed: the database file can be moved aside and
// replaced (see "Damage"), so a lock held on it would let a second process
// that waited on the old file take the new one too.
const LockName = "piecefs.lock"

// lockPoll is how often Open retries a lock held by another process.
const lockPoll = 20 * time.Millisecond

// lockDir takes the exclusive lock on dir's lock file, waiting up to
// timeout for another process to release it, and returns the open file
// that holds it: closing the file releases the lock, as does the process's
// end, however it ends.
func lockDir(dir string, timeout time.Duration) (*os.File, error) {
	name := filepath.Join(dir, LockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, unusable(dir, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return f, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EWOULDBLOCK):
			f.Close()
			return nil, fmt.Errorf("lock cache directory %s: %w", dir, err)
		case time.Now().After(deadline):
			f.Close()
			return nil, fmt.Errorf("cache directory %s is %w (its lock %s was not free within %s)", dir, ErrInUse, name, timeout)
		}
		time.Sleep(lockPoll)
	}
}
