// Package durable holds the one file-system step that both the cache (store)
// and the publish output (origin) need to make a rename survive power loss.
package durable

import (
	"fmt"
	"os"
)

// SyncDir makes the entries of directory dir durable: after a rename into
// dir, the new name survives a crash only once dir itself is fsynced.
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
