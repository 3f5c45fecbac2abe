package e2e

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// dmgDBUsed returns the size of the part of a bbolt file that is in use
// (its high-water mark) and the offset of the page-type byte of the live
// branch or leaf page nearest the middle of that part.
//
// The damage tests aim there because bbolt checksums only its two meta
// pages: a file grows in steps, so the middle of the file is often past the
// high-water mark, and a flipped byte in free space, or inside a key or a
// value, leaves a database that is valid, only different. A page whose type
// is no longer branch or leaf is corruption that bbolt's own Tx.Check
// reports, so a store can tell it.
func dmgDBUsed(t *testing.T, path string) (used, typeByte int64) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open the cache database to damage it: %v", err)
	}
	defer db.Close()
	ps := int64(db.Info().PageSize)
	err = db.View(func(tx *bbolt.Tx) error {
		used = tx.Size()
		best, bestDist := int64(-1), int64(0)
		for id := 2; int64(id)*ps < used; {
			info, err := tx.Page(id)
			if err != nil {
				return fmt.Errorf("page %d: %w", id, err)
			}
			if info == nil {
				return fmt.Errorf("page %d: below the high-water mark, yet no such page", id)
			}
			dist := dmgAbs(int64(id)*ps + ps/2 - used/2)
			if (info.Type == "branch" || info.Type == "leaf") && (best < 0 || dist < bestDist) {
				best, bestDist = int64(id)*ps, dist
			}
			id += 1 + info.OverflowCount
		}
		if best < 0 {
			return errors.New("no live branch or leaf page")
		}
		typeByte = best + 8 // the page header: id (8 bytes), then flags
		return nil
	})
	if err != nil {
		t.Fatalf("find a live page in the cache database: %v", err)
	}
	return used, typeByte
}

func dmgAbs(n int64) int64 { return max(n, -n) }
