package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

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
