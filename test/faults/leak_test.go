package faults

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// resources counts what a test must give back: goroutines and open file
// descriptors (TCP connections, piece files and the database included).
type resources struct {
	goroutines int
	fds        int
}

func snapshot(t *testing.T) resources {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count file descriptors: %v", err)
	}
	return resources{goroutines: runtime.NumGoroutine(), fds: len(ents)}
}

// settleTimeout bounds the wait for connections and handlers to wind down
// after everything is closed: they end promptly, but on their own
// goroutines, so the counts are polled.
const settleTimeout = 10 * time.Second

// checkSettles fails the test unless the counts come back to at most base
// once everything the test opened is closed, and returns the counts seen.
func (base resources) checkSettles(t *testing.T) resources {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		now := snapshot(t)
		if now.goroutines <= base.goroutines && now.fds <= base.fds {
			return now
		}
		if time.Now().After(deadline) {
			t.Errorf("after closing everything: got %d goroutines and %d fds, want at most %d and %d (the counts before)",
				now.goroutines, now.fds, base.goroutines, base.fds)
			buf := make([]byte, 1<<20)
			t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
			return now
		}
		time.Sleep(10 * time.Millisecond)
	}
}
