package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Readers and reads of TestConcurrentReads: 1280 reads over a few dozen
// distinct pieces, so each piece is wanted by many readers at once.
const (
	concurrentReaders = 64
	readsEach         = 20
)

// TestConcurrentReads has 64 goroutines read random ranges of a file of
// more than 2 GiB through the chain, with the memory tier on and off, and
// checks every byte and that each distinct piece cost exactly one request.
func TestConcurrentReads(t *testing.T) {
	plan := planReads(concurrentReaders, readsEach)
	h := buildHuge(t, plan)
	t.Logf("%d reads over %d distinct pieces of %d", concurrentReaders*readsEach, len(h.pieces), hugePieces)
	for _, memory := range []int64{16 << 20, 0} {
		t.Run(fmt.Sprintf("memory tier %d bytes", memory), func(t *testing.T) {
			testConcurrentReads(t, h, plan, memory)
		})
	}
}

func testConcurrentReads(t *testing.T, h *hugeTree, plan [][]hugeRead, memory int64) {
	base := snapshot(t)
	o := &hugeOrigin{h: h, hits: make(map[int]int)}
	srv := httptest.NewServer(o)
	dir := t.TempDir()
	c := openChain(t, dir, srv.URL, h.m, chainOptions{timeout: 30 * time.Second, memory: memory})

	var wg sync.WaitGroup
	for g, reads := range plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, r := range reads {
				if err := readHuge(c, h, r); err != nil {
					t.Errorf("reader %d, read %d: %v", g, k, err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("readers still running after 5 minutes: hung")
	}

	c.close()
	checkNoParts(t, dir)
	if got, want := len(checkPieceFiles(t, dir)), len(h.pieces); got != want {
		t.Errorf("pieces in the cache: got %d, want %d", got, want)
	}
	srv.Close()
	checkOneRequestEach(t, o)
	base.checkSettles(t)
}

// readHuge reads r through the chain and compares the bytes.
func readHuge(c *chain, h *hugeTree, r hugeRead) error {
	want := h.want(r.off, r.n)
	p := make([]byte, r.n)
	n, err := c.r.ReadAt(context.Background(), h.e, p, r.off)
	wantErr := error(nil)
	if len(want) < r.n {
		wantErr = io.EOF
	}
	if n != len(want) || !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
		return fmt.Errorf("ReadAt(off %d, %d bytes): got %d bytes, %v; want %d bytes, %v", r.off, r.n, n, err, len(want), wantErr)
	}
	if !bytes.Equal(p[:n], want) {
		return fmt.Errorf("ReadAt(off %d, %d bytes): wrong byte at %d", r.off, r.n, firstDiff(p, want))
	}
	return nil
}

func checkOneRequestEach(t *testing.T, o *hugeOrigin) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.strays) > 0 {
		t.Errorf("requests outside the plan: %q", o.strays)
	}
	if got, want := len(o.hits), len(o.h.pieces); got != want {
		t.Errorf("distinct pieces requested: got %d, want %d", got, want)
	}
	for i, n := range o.hits {
		if n != 1 {
			t.Errorf("requests for piece %d: got %d, want 1", i, n)
		}
	}
}
