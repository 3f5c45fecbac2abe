package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// canceler stops in-flight fetches; *fetch.Fetcher satisfies it.
type canceler interface{ Close() error }

// serveUntilUnmounted returns once the kernel has let go of the mount:
// after an external umount, or after SIGINT/SIGTERM made us unmount.
//
// The first signal unmounts; if files are still open it detaches the
// mount lazily instead, so the mountpoint is free at once and the open
// files keep working until they are closed. A second signal also cancels
// the fetches in flight, so readers blocked on the origin get EIO now
// rather than at their timeout.
func serveUntilUnmounted(srv *fuse.Server, mountpoint string, fetches canceler, log logrus.FieldLogger) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	for n := 0; ; n++ {
		select {
		case <-done:
			return
		case sig := <-sigs:
			log.WithField("signal", sig).Info("unmounting")
			if n == 0 {
				unmount(srv, mountpoint, log)
			} else {
				closeLogged(log, "fetcher", fetches.Close)
			}
		}
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
