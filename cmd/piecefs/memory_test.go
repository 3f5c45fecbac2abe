package main

import (
	"io"
	"runtime/debug"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	pfs "github.com/piecefs/piecefs/fs"
)

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}

// TestMemoryLimit checks that the bound covers what the runtime holds when
// it is set, and follows the inodes the kernel holds, up to one for each
// entry.
func TestMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	const cache, entries = 64 << 20, 100_000
	const pieceSize = 4 << 20
	l := newMemoryLimit(cache, pieceSize, entries, quietLog())
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Fatalf("limit %d before start; want none yet", got)
	}
	l.start()
	got := debug.SetMemoryLimit(-1)
	if want := int64(cache + memoryOverhead + 8*pieceSize); got != l.base || got < heldMemory()/2+want {
		t.Fatalf("limit %d, base %d; want the held memory plus %d", got, l.base, want)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { l.follow(stop); close(done) }()
	defer func() { close(stop); <-done }()
	for _, tc := range []struct{ inodes, want int64 }{
		{1_000_000, l.base + entries*pfs.InodeBytes}, // drifted past the entries: capped
		{20_000, l.base + 20_000*pfs.InodeBytes},
		{0, l.base},
	} {
		l.counter().Store(tc.inodes)
		waitLimit(t, tc.want)
	}
}

func waitLimit(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for got := debug.SetMemoryLimit(-1); got != want; got = debug.SetMemoryLimit(-1) {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d, want %d", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMemoryLimitRun checks that run sets the bound before it says so, and
// returns once stopped; a nil limit says so at once.
func TestMemoryLimitRun(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	for _, l := range []*memoryLimit{newMemoryLimit(64<<20, 4<<20, 1000, quietLog()), nil} {
		set, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() { l.run(set, stop); close(done) }()
		<-set
		if got := debug.SetMemoryLimit(-1); l != nil && got != l.base {
			t.Errorf("limit %d once set, want %d", got, l.base)
		}
		select {
		case <-done:
			if l != nil {
				t.Fatal("run returned before it was stopped")
			}
		case <-time.After(2 * followInterval):
		}
		close(stop)
		<-done
	}
}

// TestMemoryLimitGOMEMLIMIT checks that a limit the user set wins.
func TestMemoryLimitGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	old := debug.SetMemoryLimit(-1)
	l := newMemoryLimit(64<<20, 4<<20, 1000, quietLog())
	l.start()
	if got := debug.SetMemoryLimit(-1); l != nil || got != old {
		t.Errorf("limit %v → %d (was %d); want GOMEMLIMIT left alone", l, got, old)
	}
	if l.counter() != nil {
		t.Errorf("a nil limit counts inodes")
	}
	l.follow(nil) // returns at once
}
