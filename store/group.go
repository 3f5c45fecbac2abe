package store

import (
	"errors"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// group commits records in shared transactions without waiting for company:
// the first commit to arrive runs its transaction at once, and every commit
// that arrives meanwhile waits for it to end and then goes in the next one,
// all together. So a lone commit costs one transaction and one fsync, as
// db.Update would, while commits that pile up behind a slow fsync share
// the next. bbolt's own Batch instead holds every transaction back for
// MaxBatchDelay (10ms) unless MaxBatchSize commits arrive first, which
// piecefs's few concurrent commits never do: a cold random read's commit
// then took 10ms and held its piece's stripe as long.
//
// As with db.Batch, a function may run more than once, so it must be
// idempotent, and one that fails is run again on its own, so that its
// error is its own and the others still commit.
type group struct {
	mu      sync.Mutex // guards pending and running
	pending []*groupCall
	running bool // a leader is committing; new calls wait for its next round
}

type groupCall struct {
	fn  func(*bolt.Tx) error
	err chan error // buffered: the leader never blocks on it
}

// commit runs fn in a transaction shared with the commits waiting with it.
func (g *group) commit(db *bolt.DB, fn func(*bolt.Tx) error) error {
	c := &groupCall{fn: fn, err: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if g.running {
		g.mu.Unlock()
		return <-c.err
	}
	g.running = true
	for len(g.pending) > 0 {
		round := g.pending
		g.pending = nil
		g.mu.Unlock()
		runRound(db, round)
		g.mu.Lock()
	}
	g.running = false
	g.mu.Unlock()
	return <-c.err
}

// runRound commits the calls of one round in one transaction. If a call
// fails, it gets its error and the others are committed again without it.
func runRound(db *bolt.DB, calls []*groupCall) {
	for len(calls) > 0 {
		failed := -1
		err := db.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range calls {
				c.err <- err // nil, or the commit's own failure, which is everyone's
			}
			return
		}
		calls[failed].err <- errors.Join(err)
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}
