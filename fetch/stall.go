package fetch

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"
)

// ErrStalled means an attempt received nothing for Options.StallTimeout:
// no response headers, or no body bytes. It is retried on a new
// connection, so one dead connection does not use up the whole Timeout.
var ErrStalled = errors.New("no bytes received within the stall timeout")

// watchdog cancels one attempt when it makes no progress for idle.
type watchdog struct {
	timer   *time.Timer
	idle    time.Duration
	stalled atomic.Bool // set when the timer fired
}

// watch returns a context for one attempt that is cancelled after idle
// without progress, and the watchdog to report progress to.
func watch(ctx context.Context, idle time.Duration) (context.Context, *watchdog, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watchdog{idle: idle}
	w.timer = time.AfterFunc(idle, func() { w.stalled.Store(true); cancel() })
	return ctx, w, func() { w.timer.Stop(); cancel() }
}

// err turns the cancellation the watchdog caused into ErrStalled.
func (w *watchdog) err(err error) error {
	if err != nil && w.stalled.Load() {
		return ErrStalled
	}
	return err
}

// watchedBody reports every read that returns bytes to the watchdog, counts
// them, and ends the attempt when closed.
type watchedBody struct {
	io.ReadCloser
	w        *watchdog
	stop     context.CancelFunc
	received *atomic.Int64 // counts the body's bytes (Stats.Bytes)
	bySource *atomic.Int64 // and again for the source that sent them
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.timer.Reset(b.w.idle)
		b.received.Add(int64(n))
		if b.bySource != nil {
			b.bySource.Add(int64(n))
		}
	}
	return n, b.w.err(err)
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	b.stop()
	return err
}
