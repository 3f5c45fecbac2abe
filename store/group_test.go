package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestGroupCommit: concurrent commits all land, in shared transactions; a
// commit whose function fails gets its own error and the others commit.
func TestGroupCommit(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	var g group
	bad := errors.New("bad record")
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.commit(db, func(tx *bolt.Tx) error {
				if i%10 == 3 {
					return bad
				}
				return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprint(i)), []byte("v"))
			})
		}()
	}
	wg.Wait()
	err = db.View(func(tx *bolt.Tx) error {
		for i, e := range errs {
			got := tx.Bucket([]byte("b")).Get([]byte(fmt.Sprint(i)))
			switch {
			case i%10 == 3 && (!errors.Is(e, bad) || got != nil):
				return fmt.Errorf("commit %d: err %v, record %q; want its own error and no record", i, e, got)
			case i%10 != 3 && (e != nil || got == nil):
				return fmt.Errorf("commit %d: err %v, record %q; want it committed", i, e, got)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestSyncsRounds: files synced at once share rounds, every caller gets
// its round's outcome, and a round that cannot flush fails its callers.
func TestSyncsRounds(t *testing.T) {
	dir := t.TempDir()
	g := syncs{rounds[*os.File]{linger: time.Millisecond}}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = g.sync(f) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("sync %d: %v", i, err)
		}
	}
	closed, err := os.Create(filepath.Join(dir, "closed"))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if err := g.sync(closed); err == nil {
		t.Error("sync of a closed file succeeded")
	}
}
