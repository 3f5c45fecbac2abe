package store

import (
	"errors"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// rounds runs work in rounds without waiting for company: the first call
// to arrive runs its round at once, and every call that arrives meanwhile
// waits for it to end and then goes in the next round, all together. So a
// lone call costs what it would alone, while calls that pile up behind a
// slow round (an fsync) share the next.
type rounds[T any] struct {
	// linger is how long a leader waits for company before each round: 0
	// runs a lone call at once.
	linger time.Duration

	mu      sync.Mutex // guards pending and running
	pending []*call[T]
	running bool // a leader is running a round; new calls wait for the next
}

type call[T any] struct {
	arg T
	err chan error // buffered: the leader never blocks on it
}

// do runs arg in a round, with run, and returns its error.
func (r *rounds[T]) do(arg T, run func([]*call[T])) error {
	c := &call[T]{arg: arg, err: make(chan error, 1)}
	r.mu.Lock()
	r.pending = append(r.pending, c)
	if r.running {
		r.mu.Unlock()
		return <-c.err
	}
	r.running = true
	for len(r.pending) > 0 {
		if r.linger > 0 {
			r.mu.Unlock()
			time.Sleep(r.linger)
			r.mu.Lock()
		}
		round := r.pending
		r.pending = nil
		r.mu.Unlock()
		run(round)
		r.mu.Lock()
	}
	r.running = false
	r.mu.Unlock()
	return <-c.err
}

// group commits records in shared transactions (see rounds). bbolt's own
// Batch instead holds every transaction back for MaxBatchDelay (10ms)
// unless MaxBatchSize commits arrive first, which piecefs's few concurrent
// commits never do: a cold random read's commit then took 10ms and held
// its piece's stripe as long.
//
// As with db.Batch, a function may run more than once, so it must be
// idempotent, and one that fails is run again on its own, so that its
// error is its own and the others still commit.
type group struct{ rounds[func(*bolt.Tx) error] }

// commit runs fn in a transaction shared with the commits waiting with it.
func (g *group) commit(db *bolt.DB, fn func(*bolt.Tx) error) error {
	return g.do(fn, func(calls []*call[func(*bolt.Tx) error]) { commitRound(db, calls) })
}

// commitRound commits the calls of one round in one transaction. If a call
// fails, it gets its error and the others are committed again without it.
func commitRound(db *bolt.DB, calls []*call[func(*bolt.Tx) error]) {
	for len(calls) > 0 {
		failed := -1
		err := db.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := c.arg(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range calls {
				c.err <- err // nil, or the transaction's own failure, which is everyone's
			}
			return
		}
		calls[failed].err <- errors.Join(err)
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// syncs makes written files durable in shared rounds (see rounds): a round
// of one file fsyncs it; a round of several calls syncfs(2) once, which
// flushes every file of the cache's file system, so that the blocks of
// many small ranged fetches cost one flush rather than one each. syncfs
// reports the writeback errors of the file system since the descriptor was
// opened (Linux 5.8 and later), so a failure fails the whole round.
type syncs struct{ rounds[*os.File] }

// syncLinger is how long a round of partial commits waits for company
// before it flushes: the commits run after their readers were answered, so
// the wait costs no read anything, while cold random reads at one a
// millisecond, each committing its block, share a flush five at a time
// instead of each paying one (and keeping the disk busy under the
// origin's reads).
const syncLinger = 5 * time.Millisecond

// sync makes the bytes written to f durable.
func (g *syncs) sync(f *os.File) error { return g.do(f, syncRound) }

func syncRound(calls []*call[*os.File]) {
	var err error
	if len(calls) == 1 {
		err = calls[0].arg.Sync()
	} else {
		err = syncFS(calls[0].arg)
	}
	for _, c := range calls {
		c.err <- err
	}
}

// syncFS flushes the file system that holds f.
func syncFS(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "syncfs", Path: f.Name(), Err: serr}
	}
	return nil
}
