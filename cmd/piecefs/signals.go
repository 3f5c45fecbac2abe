package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// canceler stops in-flight fetches; *fetch.Fetcher satisfies it.
type canceler interface{ Close() error }

// drainer waits for reads in progress to return; *piece.Reader satisfies it.
type drainer interface {
	Drain(ctx context.Context) error
}

// drainTimeout bounds how long a forced shutdown waits for cancelled reads
// to be answered, and replyGrace lets go-fuse write the last answers.
const (
	drainTimeout = 2 * time.Second
	replyGrace   = 50 * time.Millisecond
)

// errForced reports a shutdown forced by a second signal; the mount exits
// with exitForced.
var errForced = errors.New("forced shutdown: a second signal cancelled the reads in flight")

// serveUntilUnmounted returns nil once the kernel has let go of the mount:
// after an external umount, or after SIGINT/SIGTERM made us unmount.
//
// The first signal unmounts; if files are still open it detaches the
// mount lazily instead, so the mountpoint is free at once and the open
// files keep working until they are closed, with fetches in flight bounded
// by their timeout. A second signal does not wait for those files: it
// cancels the fetches in flight and returns errForced, so the caller closes
// the cache and exits; the kernel then fails whatever is still open on the
// detached mount instead of leaving a reader hanging.
//
// sigs must have been registered (notifySignals) before the mount was
// announced, so that a signal sent right after the ready line is not the
// default action's kill.
func serveUntilUnmounted(srv *fuse.Server, mountpoint string, sigs <-chan os.Signal, fetches canceler, reads drainer, log logrus.FieldLogger) error {
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case sig := <-sigs:
		log.WithField("signal", sig).Info("unmounting")
		unmount(srv, mountpoint, log)
	}
	select {
	case <-done:
		return nil
	case sig := <-sigs:
		log.WithField("signal", sig).Warn("second signal: cancelling reads in flight and exiting")
		closeLogged(log, "fetcher", fetches.Close)
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		if reads.Drain(ctx) == nil {
			time.Sleep(replyGrace)
		}
		return errForced
	}
}

func unmount(srv *fuse.Server, mountpoint string, log logrus.FieldLogger) {
	err := srv.Unmount()
	if err == nil {
		return
	}
	log.WithError(err).Warn("unmount failed; detaching the mount lazily")
	if err := syscall.Unmount(mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
		log.WithError(err).Error("lazy unmount failed")
	}
}

// notifySignals starts catching SIGINT and SIGTERM for serveUntilUnmounted;
// stop ends it.
func notifySignals() (sigs chan os.Signal, stop func()) {
	sigs = make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	return sigs, func() { signal.Stop(sigs) }
}
