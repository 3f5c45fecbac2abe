package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/piece"
)

// stallTimeout is the fetch Timeout while a piece stalls: far longer than
// the cached reads take, so that only the release ends the stall.
const stallTimeout = 60 * time.Second

// TestCachedReadsWhileStalled checks that a piece stalled at the origin
// holds up only the reads that need it: reads of cached pieces, from memory
// or from disk, go on while it hangs, and a reader of the stalled piece
// whose context ends gets out at once.
func TestCachedReadsWhileStalled(t *testing.T) {
	for _, memory := range []int64{8 << 20, 0} {
		t.Run(fmt.Sprintf("memory tier %d bytes", memory), func(t *testing.T) {
			testCachedReadsWhileStalled(t, memory)
		})
	}
}

func testCachedReadsWhileStalled(t *testing.T, memory int64) {
	base := snapshot(t)
	tr := publish(t)
	o := newFaultyOrigin(t, tr)
	dir := t.TempDir()
	c := openChain(t, dir, o.URL(), tr.m, chainOptions{timeout: stallTimeout, memory: memory})
	cached := []string{smallFile, otherFile, "b.txt"} // one packed piece
	for _, name := range cached {
		readWhole(t, c.r, tr, name)
	}

	big := tr.entry(t, bigFile)
	p, off, n := tr.faultRange(t, bigFile)
	arrived, release := make(chan struct{}), make(chan struct{})
	o.inject(p.Digest, stallUntil(arrived, release), 1)
	stalled := startRead(context.Background(), c.r, big, off, n)
	awaitClosed(t, arrived, "the stalled request at the origin")
	checkCancelledReaderLeaves(t, c, tr, off, n)

	readManyConcurrently(t, c, tr, cached, 8, 125)
	finishStalled(t, stalled, release, tr.files[bigFile][off:off+int64(n)])
	if got := o.hitsOf(p.Digest); got != 1 {
		t.Errorf("requests for the stalled piece: got %d, want 1", got)
	}
	c.close()
	checkNoParts(t, dir)
	checkPieceFiles(t, dir)
	o.close()
	base.checkSettles(t)
}

// finishStalled checks that the stalled read is still pending, releases
// the stall, and checks that the read then returns the right bytes.
func finishStalled(t *testing.T, stalled <-chan readResult, release chan struct{}, want []byte) {
	t.Helper()
	select {
	case res := <-stalled:
		t.Fatalf("the stalled read returned before the release: n=%d err=%v", res.n, res.err)
	default:
	}
	close(release)
	select {
	case res := <-stalled:
		if res.err != nil {
			t.Errorf("stalled read after the release: %v", res.err)
		}
		checkRead(t, res, want)
	case <-time.After(stallTimeout + slack):
		t.Fatalf("stalled read still running %v after the release", stallTimeout+slack)
	}
}

// readWhole reads file name through r and checks its bytes.
func readWhole(t *testing.T, r *piece.Reader, tr *tree, name string) {
	t.Helper()
	want := tr.files[name]
	res := readAt(t, r, tr.entry(t, name), 0, len(want), stallTimeout+slack)
	if res.err != nil {
		t.Fatalf("ReadAt(%s): %v", name, res.err)
	}
	checkRead(t, res, want)
}

// checkCancelledReaderLeaves starts a second read of the stalled range and
// cancels it: it must return the context's error without waiting for the
// stalled download. The cancel comes a little later so that the read has
// most likely joined that download by then; if not, it must fail the same.
func checkCancelledReaderLeaves(t *testing.T, c *chain, tr *tree, off int64, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := startRead(ctx, c.r, tr.entry(t, bigFile), off, n)
	time.AfterFunc(50*time.Millisecond, cancel)
	select {
	case res := <-ch:
		if !errors.Is(res.err, context.Canceled) {
			t.Errorf("cancelled read of the stalled piece: got %v, want context.Canceled", res.err)
		}
		checkRead(t, res, tr.files[bigFile][off:off+int64(n)])
	case <-time.After(slack):
		t.Errorf("cancelled read of the stalled piece still running %v after the cancel", slack)
	}
}

// readManyConcurrently runs `readers` goroutines that each read the cached
// files `each` times, at varying offsets, and checks every byte.
func readManyConcurrently(t *testing.T, c *chain, tr *tree, names []string, readers, each int) {
	t.Helper()
	entries := make([]*meta.Entry, len(names))
	for i, name := range names {
		entries[i] = tr.entry(t, name)
	}
	var wg sync.WaitGroup
	for g := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := (g + i) % len(names)
				if err := readTail(c, entries[k], tr.files[names[k]], int64(i*37%1000)); err != nil {
					t.Errorf("reader %d, read %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	awaitClosed(t, done, fmt.Sprintf("%d reads of cached files", readers*each))
}

// readTail reads file e, whose content is data, from off to its end and
// compares the bytes.
func readTail(c *chain, e *meta.Entry, data []byte, off int64) error {
	want := data[off:]
	p := make([]byte, len(want))
	n, err := c.r.ReadAt(context.Background(), e, p, off)
	if err != nil || n != len(want) {
		return fmt.Errorf("ReadAt(%s, %d): %d of %d bytes, %v", e.Path, off, n, len(want), err)
	}
	if !bytes.Equal(p, want) {
		return fmt.Errorf("ReadAt(%s, %d): wrong bytes at %d", e.Path, off, firstDiff(p, want))
	}
	return nil
}

// awaitClosed waits for ch to be closed, failing the test if that takes so
// long that something must hang.
func awaitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(stallTimeout):
		t.Fatalf("%s: still waiting after %v", what, stallTimeout)
	}
}
