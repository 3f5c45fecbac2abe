package main

import (
	"testing"

	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/store"
)

// TestStoreIsWholeSink: the mount's sink takes whole pieces through the
// store's Put (one write, one hash, one commit), not block by block.
func TestStoreIsWholeSink(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := fetch.Adapt(st).(fetch.WholeSink); !ok {
		t.Errorf("fetch.Adapt(*store.Store) is not a fetch.WholeSink")
	}
}
