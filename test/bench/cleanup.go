package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// errInterrupted is returned by run after SIGINT or SIGTERM.
var errInterrupted = errors.New("interrupted")

// signalGrace is how long the benchmark may take to wind down after the
// first signal before its cleanup runs from the signal handler.
const signalGrace = 30 * time.Second

// cleaner runs cleanup functions once, last added first: on a normal
// return, during a panic (run defers it), and from the signal handler.
// Functions must be idempotent, since the work they undo may also have
// been undone by the normal path.
type cleaner struct {
	mu  sync.Mutex // guards fns and ran; held while the functions run
	fns []func()
	ran bool
}

// add registers f. After the cleanup has run, f runs at once.
func (c *cleaner) add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ran {
		f()
		return
	}
	c.fns = append(c.fns, f)
}

// run runs every function, last added first. A second caller waits for
// the first to finish.
func (c *cleaner) run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ran {
		return
	}
	c.ran = true
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
	c.fns = nil
}

// trapSignals returns a context that SIGINT or SIGTERM cancels. A second
// signal, or the first one left unhandled for signalGrace, runs the
// cleanup and exits with status 130. The returned stop releases the
// signals; call it when run returns.
func trapSignals(ctx context.Context, c *cleaner, logw io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	quit := make(chan struct{})
	go func() {
		select {
		case <-quit:
			return
		case sig := <-sigs:
			fmt.Fprintf(logw, "bench: %v: stopping mounts and cleaning up (again to force)\n", sig)
			cancel(errInterrupted)
		}
		select {
		case <-quit:
			return
		case <-sigs:
		case <-time.After(signalGrace):
		}
		c.run()
		os.Exit(130)
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(quit)
			cancel(nil)
		})
	}
}
