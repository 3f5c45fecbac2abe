package store

import (
	"errors"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// rounds runs work in rounds without waiting for company: the first call
// to arrive runs its round at once, and every call that arrives meanwhile
// waits for it to end and then goes in the next round, all together. So a
// lone call costs what it would alone, while calls that pile up behind a
// slow round (an fsync) share the next.
type rounds[T any] struct {
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
