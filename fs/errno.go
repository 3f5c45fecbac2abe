package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"syscall"

	"github.com/sirupsen/logrus"
)

// errno maps an error from below to the errno a FUSE caller sees, and logs
// it; this is the one place where errors are logged. An interruption is
// the caller giving up, not a failure, so it is logged at debug level only:
// go-fuse cancels a request on any signal, and the Go runtime signals its
// own threads (SIGURG) routinely.
func (t *tree) errno(op, path string, off int64, err error) syscall.Errno {
	e := toErrno(err)
	l := t.log.WithFields(logrus.Fields{"op": op, "path": path, "offset": off, logrus.ErrorKey: err})
	if e == syscall.EINTR {
		l.Debug("fuse request interrupted")
	} else {
		l.Error("fuse request failed")
	}
	return e
}

// toErrno classifies err by its type and wrapped sentinels, never its text.
func toErrno(err error) syscall.Errno {
	switch {
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, iofs.ErrNotExist):
		return syscall.ENOENT
	}
	// context.DeadlineExceeded lands here too: a timed-out fetch is an I/O
	// failure to the reader, not an interruption.
	return syscall.EIO
}
